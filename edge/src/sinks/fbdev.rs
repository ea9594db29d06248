//! `fb:/dev/fb0` — the Linux framebuffer, for boards and drivers without usable KMS.
//!
//! Geometry, bits per pixel and stride come from the driver. Raw ioctls and mmap rather than a
//! crate: the framebuffer crates on crates.io are unmaintained, and the interface is two structs.
//! Single-buffered: fbdev offers no page flip that every driver honours.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::frame::{Frame, Size};
use crate::sink::{DisplayPower, Sink, SinkError};
use crate::sinks::present::{Panel, PixelLayout, Rotation};

const FBIOGET_VSCREENINFO: libc::c_ulong = 0x4600;
const FBIOGET_FSCREENINFO: libc::c_ulong = 0x4602;
const FBIOBLANK: libc::c_ulong = 0x4611;
const FB_BLANK_UNBLANK: libc::c_ulong = 0;
const FB_BLANK_POWERDOWN: libc::c_ulong = 4;
const KDSETMODE: libc::c_ulong = 0x4B3A;
const KD_TEXT: libc::c_ulong = 0;
const KD_GRAPHICS: libc::c_ulong = 1;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Bitfield {
    offset: u32,
    length: u32,
    msb_right: u32,
}

/// `struct fb_var_screeninfo` (linux/fb.h).
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct VarInfo {
    xres: u32,
    yres: u32,
    xres_virtual: u32,
    yres_virtual: u32,
    xoffset: u32,
    yoffset: u32,
    bits_per_pixel: u32,
    grayscale: u32,
    red: Bitfield,
    green: Bitfield,
    blue: Bitfield,
    transp: Bitfield,
    rest: [u32; 20],
}

/// `struct fb_fix_screeninfo` (linux/fb.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct FixInfo {
    id: [u8; 16],
    smem_start: libc::c_ulong,
    smem_len: u32,
    kind: u32,
    type_aux: u32,
    visual: u32,
    xpanstep: u16,
    ypanstep: u16,
    ywrapstep: u16,
    line_length: u32,
    mmio_start: libc::c_ulong,
    mmio_len: u32,
    accel: u32,
    capabilities: u16,
    reserved: [u16; 2],
}

pub struct Framebuffer {
    file: File,
    path: PathBuf,
    name: String,
    map: *mut u8,
    len: usize,
    /// Offset of the visible page (after panning) in the mapping.
    visible: usize,
    stride: usize,
    panel: Panel,
    /// The console put in graphics mode, so its cursor does not draw over the picture.
    console: Option<File>,
    on: bool,
}

// The mapping is owned by the sink and used by one thread at a time.
unsafe impl Send for Framebuffer {}

impl Framebuffer {
    pub fn open(path: &Path, rotation: Rotation) -> Result<Framebuffer, SinkError> {
        let err = |message: String| SinkError::Open { uri: format!("fb:{}", path.display()), message };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| err(format!("cannot open: {e}; is the user in the `video` group?")))?;
        let fd = file.as_raw_fd();
        let mut var = VarInfo::default();
        // SAFETY: FixInfo is plain data; all-zero is a valid value.
        let mut fix: FixInfo = unsafe { std::mem::zeroed() };
        // SAFETY: the ioctls fill the structs they are defined with.
        if unsafe { libc::ioctl(fd, FBIOGET_VSCREENINFO as _, &mut var) } < 0
            || unsafe { libc::ioctl(fd, FBIOGET_FSCREENINFO as _, &mut fix) } < 0
        {
            return Err(err(format!("not a framebuffer: {}", std::io::Error::last_os_error())));
        }
        let layout = match (var.bits_per_pixel, var.red.offset, var.blue.offset) {
            (32, 16, 0) => PixelLayout::Xrgb8888,
            (16, 11, 0) => PixelLayout::Rgb565,
            (bpp, r, b) => {
                return Err(err(format!(
                    "{bpp} bits per pixel with red at bit {r}, blue at bit {b} is not supported; \
                     XRGB8888 and RGB565 are"
                )));
            }
        };
        let panel = Size::new(var.xres, var.yres);
        let stride = fix.line_length as usize;
        let len = fix.smem_len as usize;
        let visible = var.yoffset as usize * stride + var.xoffset as usize * layout.bytes_per_pixel();
        if visible + stride * panel.height as usize > len {
            return Err(err(format!(
                "the driver reports {len} bytes of memory, too few for {panel} at stride {stride}"
            )));
        }
        // SAFETY: maps the framebuffer memory the driver reported; unmapped in Drop.
        let map = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if map == libc::MAP_FAILED {
            return Err(err(format!("cannot map: {}", std::io::Error::last_os_error())));
        }
        let name = String::from_utf8_lossy(&fix.id).trim_end_matches('\0').to_string();
        let console = graphics_console();
        Ok(Framebuffer {
            file,
            path: path.to_path_buf(),
            name,
            map: map as *mut u8,
            len,
            visible,
            stride,
            panel: Panel::new(panel, rotation, layout),
            console,
            on: true,
        })
    }
}

/// Puts the active virtual console in graphics mode when we may (so the text cursor stops
/// blinking over the picture); `None` when there is no console or no permission.
fn graphics_console() -> Option<File> {
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty0").ok()?;
    // SAFETY: KDSETMODE takes an integer argument.
    (unsafe { libc::ioctl(tty.as_raw_fd(), KDSETMODE as _, KD_GRAPHICS) } == 0).then_some(tty)
}

impl Sink for Framebuffer {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        // SAFETY: `visible + stride * height <= len` was checked at open.
        let pixels =
            unsafe { std::slice::from_raw_parts_mut(self.map.add(self.visible), self.len - self.visible) };
        self.panel.draw(&frame.image, pixels, self.stride);
        Ok(())
    }

    fn describe(&self) -> String {
        format!("fb:{} ({}) {}", self.path.display(), self.name, self.panel)
    }

    fn picture_size(&self) -> Option<Size> {
        Some(self.panel.picture_size())
    }

    fn power(&mut self) -> Option<&mut dyn DisplayPower> {
        Some(self)
    }
}

impl DisplayPower for Framebuffer {
    fn set_power(&mut self, on: bool) -> Result<(), SinkError> {
        let arg = if on { FB_BLANK_UNBLANK } else { FB_BLANK_POWERDOWN };
        // SAFETY: FBIOBLANK takes an integer argument.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), FBIOBLANK as _, arg) } < 0 {
            return Err(SinkError::Write(format!(
                "{}: cannot {} the screen: {}",
                self.path.display(),
                if on { "unblank" } else { "blank" },
                std::io::Error::last_os_error()
            )));
        }
        self.on = on;
        Ok(())
    }

    fn is_on(&self) -> bool {
        self.on
    }
}

impl Drop for Framebuffer {
    fn drop(&mut self) {
        // SAFETY: unmapping what open() mapped.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.len) };
        if let Some(tty) = &self.console {
            // SAFETY: KDSETMODE takes an integer argument.
            unsafe { libc::ioctl(tty.as_raw_fd(), KDSETMODE as _, KD_TEXT) };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn structs_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<super::VarInfo>(), 160);
        // 16 + 8 + 4*4 + 2*3(+2 pad) + 4 + 8 + 4*2 + 2 + 4 (+ tail pad) on LP64.
        assert_eq!(std::mem::size_of::<super::FixInfo>(), 80);
    }
}
