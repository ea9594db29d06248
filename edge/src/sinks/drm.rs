//! `drm:` — full-screen output through KMS dumb buffers, for mirrors without a desktop.
//!
//! Picks the card that has a connected screen (card numbers are not stable: on a Pi 5 `card0`
//! renders only), the connector's preferred mode unless told otherwise, and double-buffers with
//! page flips so a frame is never shown half-drawn. The screen as it was (often the console) is
//! put back on exit.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use drm::buffer::{Buffer as _, DrmFourcc};
use drm::control::{
    Device as ControlDevice, Mode, ModeTypeFlags, PageFlipFlags, connector, crtc, dumbbuffer, framebuffer,
};

use crate::frame::{Frame, Size};
use crate::sink::{DisplayPower, Sink, SinkError};
use crate::sinks::present::{Panel, PixelLayout, Rotation};

/// `drm:[CARD][?connector=NAME&mode=WxH]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrmSpec {
    pub card: Option<PathBuf>,
    pub connector: Option<String>,
    pub mode: Option<Size>,
}

impl std::str::FromStr for DrmSpec {
    type Err = String;
    fn from_str(rest: &str) -> Result<DrmSpec, String> {
        let (card, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut spec =
            DrmSpec { card: (!card.is_empty()).then(|| PathBuf::from(card)), ..Default::default() };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("connector", name)) if !name.is_empty() => spec.connector = Some(name.to_string()),
                Some(("mode", size)) => {
                    spec.mode = Some(size.parse().map_err(|e| format!("drm: mode: {e}"))?)
                }
                _ => {
                    return Err(format!(
                        "drm: `{pair}` is not an option; accepted: connector=NAME, mode=WxH"
                    ));
                }
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for DrmSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("drm:")?;
        if let Some(card) = &self.card {
            write!(f, "{}", card.display())?;
        }
        let mut options = Vec::new();
        if let Some(c) = &self.connector {
            options.push(format!("connector={c}"));
        }
        if let Some(m) = self.mode {
            options.push(format!("mode={m}"));
        }
        if !options.is_empty() {
            write!(f, "?{}", options.join("&"))?;
        }
        Ok(())
    }
}

/// An open DRM device node.
pub struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl drm::Device for Card {}
impl ControlDevice for Card {}

impl Card {
    pub fn open(path: &Path) -> std::io::Result<Card> {
        Ok(Card(std::fs::OpenOptions::new().read(true).write(true).open(path)?))
    }
}

/// `/dev/dri/card*` in numeric order.
pub fn cards() -> Vec<PathBuf> {
    let mut cards: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev/dri")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.strip_prefix("card")?.parse().ok()?, e.path())))
        .collect();
    cards.sort();
    cards.into_iter().map(|(_, p)| p).collect()
}

/// The kernel's name for a connector, e.g. `HDMI-A-1`, `Virtual-1`.
pub fn connector_name(info: &connector::Info) -> String {
    format!("{}-{}", info.interface().as_str(), info.interface_id())
}

fn mode_label(m: &Mode) -> String {
    let (w, h) = m.size();
    format!("{w}x{h}@{}", m.vrefresh())
}

/// A mapped dumb buffer with its framebuffer.
struct Scanbuf {
    dumb: dumbbuffer::DumbBuffer,
    fb: framebuffer::Handle,
    map: *mut u8,
    len: usize,
}

pub struct DrmDisplay {
    card: Card,
    path: PathBuf,
    connector: connector::Handle,
    connector_label: String,
    crtc: crtc::Handle,
    mode: Mode,
    panel: Panel,
    buffers: Vec<Scanbuf>,
    /// Index of the buffer on screen (or about to be, while a flip is pending).
    front: usize,
    flip_pending: bool,
    /// The driver refused page flips: present with set_crtc instead.
    no_flip: bool,
    saved: Option<crtc::Info>,
    dpms: Option<drm::control::property::Handle>,
    on: bool,
}

// The mappings are owned by the display and only touched by the thread that holds it.
unsafe impl Send for DrmDisplay {}

fn open_err(spec: &DrmSpec, message: String) -> SinkError {
    SinkError::Open { uri: spec.to_string(), message }
}

fn is_busy(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES | libc::EBUSY | libc::EPERM))
}

const DESKTOP_HINT: &str = "another program (a desktop or compositor) holds the display; \
    run the mirror inside the desktop with --output window:, or stop the desktop";

impl DrmDisplay {
    pub fn open(spec: &DrmSpec, rotation: Rotation) -> Result<DrmDisplay, SinkError> {
        let candidates = match &spec.card {
            Some(card) => vec![card.clone()],
            None => cards(),
        };
        if candidates.is_empty() {
            return Err(open_err(
                spec,
                "no /dev/dri/card* (no KMS driver loaded); try --output fb:/dev/fb0".into(),
            ));
        }
        let mut reasons = Vec::new();
        for path in candidates {
            match DrmDisplay::open_card(&path, spec, rotation) {
                Ok(d) => return Ok(d),
                Err(Skip::Busy) => return Err(open_err(spec, format!("{}: {DESKTOP_HINT}", path.display()))),
                Err(Skip::Fatal(m)) => return Err(open_err(spec, m)),
                Err(Skip::Why(m)) => reasons.push(format!("{}: {m}", path.display())),
            }
        }
        Err(open_err(spec, format!("no usable screen: {}", reasons.join("; "))))
    }

    fn open_card(path: &Path, spec: &DrmSpec, rotation: Rotation) -> Result<DrmDisplay, Skip> {
        let card = Card::open(path).map_err(|e| Skip::Why(format!("cannot open: {e}")))?;
        let res = card
            .resource_handles()
            .map_err(|_| Skip::Why("no display outputs (render-only device)".into()))?;
        let connectors: Vec<connector::Info> =
            res.connectors().iter().filter_map(|&c| card.get_connector(c, true).ok()).collect();
        let wanted = |c: &connector::Info| spec.connector.as_ref().is_none_or(|n| *n == connector_name(c));
        let Some(conn) = connectors.iter().find(|c| wanted(c) && c.state() == connector::State::Connected)
        else {
            let names: Vec<String> =
                connectors.iter().map(|c| format!("{} ({:?})", connector_name(c), c.state())).collect();
            return Err(Skip::Why(match &spec.connector {
                Some(n) => format!("connector {n} is not connected; connectors: {}", names.join(", ")),
                None => format!("no connected connector (connectors: {})", names.join(", ")),
            }));
        };
        let mode = match spec.mode {
            Some(want) => *conn
                .modes()
                .iter()
                .find(|m| m.size() == (want.width as u16, want.height as u16))
                .ok_or_else(|| {
                    let modes: Vec<String> = conn.modes().iter().map(mode_label).collect();
                    Skip::Fatal(format!(
                        "{} has no mode {want}; modes: {}",
                        connector_name(conn),
                        modes.join(", ")
                    ))
                })?,
            None => *conn
                .modes()
                .iter()
                .find(|m| m.mode_type().contains(ModeTypeFlags::PREFERRED))
                .or_else(|| conn.modes().first())
                .ok_or_else(|| Skip::Why(format!("{} reports no modes", connector_name(conn))))?,
        };
        let crtc = pick_crtc(&card, &res, conn)
            .ok_or_else(|| Skip::Why("no CRTC can drive the connector".into()))?;
        if let Err(e) = drm::Device::acquire_master_lock(&card) {
            return Err(if is_busy(&e) {
                Skip::Busy
            } else {
                Skip::Why(format!("cannot become DRM master: {e}"))
            });
        }
        let saved = card.get_crtc(crtc).ok();
        let (w, h) = mode.size();
        let panel = Size::new(w as u32, h as u32);
        let (layout, buffers) = match make_buffers(&card, panel, PixelLayout::Xrgb8888) {
            Ok(b) => (PixelLayout::Xrgb8888, b),
            Err(first) => match make_buffers(&card, panel, PixelLayout::Rgb565) {
                Ok(b) => (PixelLayout::Rgb565, b),
                Err(e) => {
                    return Err(Skip::Fatal(format!("cannot create scanout buffers: {first}; RGB565: {e}")));
                }
            },
        };
        let dpms = card.get_properties(conn.handle()).ok().and_then(|props| {
            props
                .iter()
                .map(|(h, _)| *h)
                .find(|&h| card.get_property(h).is_ok_and(|p| p.name().to_bytes() == b"DPMS"))
        });
        let mut display = DrmDisplay {
            path: path.to_path_buf(),
            connector: conn.handle(),
            connector_label: connector_name(conn),
            crtc,
            mode,
            panel: Panel::new(panel, rotation, layout),
            buffers,
            front: 0,
            flip_pending: false,
            no_flip: false,
            saved,
            dpms,
            on: true,
            card,
        };
        display.set_crtc(0).map_err(|e| {
            if is_busy(&e) {
                Skip::Busy
            } else {
                Skip::Fatal(format!("cannot set mode {}: {e}", mode_label(&mode)))
            }
        })?;
        Ok(display)
    }

    fn set_crtc(&mut self, index: usize) -> std::io::Result<()> {
        self.card.set_crtc(
            self.crtc,
            Some(self.buffers[index].fb),
            (0, 0),
            &[self.connector],
            Some(self.mode),
        )?;
        self.front = index;
        Ok(())
    }

    /// Waits (briefly) for the last page flip so its old buffer is free to draw into.
    fn wait_flip(&mut self) {
        if !self.flip_pending {
            return;
        }
        self.flip_pending = false;
        let mut pfd = libc::pollfd { fd: self.card.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // A flip completes within a refresh; 100 ms covers 10 Hz panels. Drivers without vblank
        // interrupts complete at once.
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 100) } > 0 {
            let _ = self.card.receive_events().map(|events| events.count());
        }
    }
}

enum Skip {
    /// Try the next card.
    Why(String),
    /// Someone else drives this screen.
    Busy,
    /// The card is the one, but it cannot be used as asked.
    Fatal(String),
}

fn pick_crtc(
    card: &Card,
    res: &drm::control::ResourceHandles,
    conn: &connector::Info,
) -> Option<crtc::Handle> {
    let current = conn.current_encoder().and_then(|e| card.get_encoder(e).ok()).and_then(|e| e.crtc());
    current.or_else(|| {
        conn.encoders()
            .iter()
            .filter_map(|&e| card.get_encoder(e).ok())
            .flat_map(|e| res.filter_crtcs(e.possible_crtcs()))
            .next()
    })
}

fn make_buffers(card: &Card, panel: Size, layout: PixelLayout) -> std::io::Result<Vec<Scanbuf>> {
    let (fourcc, depth, bpp) = match layout {
        PixelLayout::Xrgb8888 => (DrmFourcc::Xrgb8888, 24, 32),
        PixelLayout::Rgb565 => (DrmFourcc::Rgb565, 16, 16),
    };
    let mut out = Vec::new();
    for _ in 0..2 {
        let dumb = card.create_dumb_buffer((panel.width, panel.height), fourcc, bpp)?;
        let fb = match card.add_framebuffer(&dumb, depth, bpp) {
            Ok(fb) => fb,
            Err(e) => {
                let _ = card.destroy_dumb_buffer(dumb);
                free(card, out);
                return Err(e);
            }
        };
        let handle: u32 = dumb.handle().into();
        let len = dumb.pitch() as usize * panel.height as usize;
        let map = drm_ffi::mode::dumbbuffer::map(card.as_fd(), handle, 0, 0).and_then(|info| {
            // SAFETY: maps the dumb buffer at the offset the kernel gave; unmapped in `free`.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    card.as_fd().as_raw_fd(),
                    info.offset as libc::off_t,
                )
            };
            if p == libc::MAP_FAILED { Err(std::io::Error::last_os_error()) } else { Ok(p as *mut u8) }
        });
        match map {
            Ok(map) => {
                // SAFETY: `len` bytes were just mapped.
                unsafe { std::ptr::write_bytes(map, 0, len) };
                out.push(Scanbuf { dumb, fb, map, len });
            }
            Err(e) => {
                let _ = card.destroy_framebuffer(fb);
                let _ = card.destroy_dumb_buffer(dumb);
                free(card, out);
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn free(card: &Card, buffers: Vec<Scanbuf>) {
    for b in buffers {
        // SAFETY: unmapping what make_buffers mapped.
        unsafe { libc::munmap(b.map as *mut libc::c_void, b.len) };
        let _ = card.destroy_framebuffer(b.fb);
        let _ = card.destroy_dumb_buffer(b.dumb);
    }
}

impl Sink for DrmDisplay {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        self.wait_flip();
        let back = if self.buffers.len() > 1 { 1 - self.front } else { 0 };
        let b = &self.buffers[back];
        // SAFETY: the mapping is `len` bytes and the kernel is not scanning this buffer out.
        let pixels = unsafe { std::slice::from_raw_parts_mut(b.map, b.len) };
        self.panel.draw(&frame.image, pixels, b.dumb.pitch() as usize);
        if !self.no_flip {
            match self.card.page_flip(self.crtc, self.buffers[back].fb, PageFlipFlags::EVENT, None) {
                Ok(()) => {
                    self.front = back;
                    self.flip_pending = true;
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(
                        "{}: page flip refused ({e}); presenting without vsync",
                        self.path.display()
                    );
                    self.no_flip = true;
                }
            }
        }
        self.set_crtc(back)
            .map_err(|e| SinkError::Write(format!("{}: cannot show a frame: {e}", self.path.display())))
    }

    fn describe(&self) -> String {
        format!(
            "drm:{} {} at {} Hz: {}",
            self.path.display(),
            self.connector_label,
            self.mode.vrefresh(),
            self.panel
        )
    }

    fn picture_size(&self) -> Option<Size> {
        Some(self.panel.picture_size())
    }

    fn power(&mut self) -> Option<&mut dyn DisplayPower> {
        Some(self)
    }
}

impl DisplayPower for DrmDisplay {
    /// Legacy DPMS on the connector (drivers with atomic modesetting map it to the CRTC's
    /// `ACTIVE`).
    fn set_power(&mut self, on: bool) -> Result<(), SinkError> {
        let prop = self.dpms.ok_or_else(|| {
            SinkError::Write(format!("{}: the connector has no DPMS property", self.connector_label))
        })?;
        self.wait_flip();
        self.card.set_property(self.connector, prop, if on { 0 } else { 3 }).map_err(|e| {
            SinkError::Write(format!(
                "{}: cannot switch the screen {}: {e}",
                self.connector_label,
                if on { "on" } else { "off" }
            ))
        })?;
        self.on = on;
        Ok(())
    }

    /// What the kernel says of the connector's DPMS state (not what we last asked for), so a
    /// screen that did not come back is noticed.
    fn is_on(&self) -> bool {
        let Some(prop) = self.dpms else { return self.on };
        match self.card.get_properties(self.connector) {
            Ok(props) => props.iter().find(|(h, _)| **h == prop).map_or(self.on, |(_, v)| *v == 0),
            Err(_) => self.on,
        }
    }
}

impl Drop for DrmDisplay {
    fn drop(&mut self) {
        self.wait_flip();
        // Give the screen back as we found it (the console, usually).
        if let Some(saved) = self.saved.take() {
            let _ = self.card.set_crtc(
                self.crtc,
                saved.framebuffer(),
                saved.position(),
                &[self.connector],
                saved.mode(),
            );
        }
        free(&self.card, std::mem::take(&mut self.buffers));
        let _ = drm::Device::release_master_lock(&self.card);
    }
}

/// The screens of every card, as `--list-devices` shows them.
pub fn describe_displays() -> String {
    let mut out = String::new();
    for path in cards() {
        let card = match Card::open(&path) {
            Ok(c) => c,
            Err(e) => {
                out += &format!("{}: cannot open: {e}\n", path.display());
                continue;
            }
        };
        let driver = drm::Device::get_driver(&card)
            .map(|d| d.name().to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(res) = card.resource_handles() else {
            out += &format!("{}  driver {driver}: render only, no outputs\n", path.display());
            continue;
        };
        out += &format!("{}  driver {driver}\n", path.display());
        for &c in res.connectors() {
            let Ok(info) = card.get_connector(c, true) else { continue };
            let state = match info.state() {
                connector::State::Connected => "connected",
                connector::State::Disconnected => "disconnected",
                connector::State::Unknown => "unknown",
            };
            out += &format!("    {}  {state}\n", connector_name(&info));
            let modes: Vec<String> = info
                .modes()
                .iter()
                .map(|m| {
                    let star = if m.mode_type().contains(ModeTypeFlags::PREFERRED) { "*" } else { "" };
                    format!("{}{star}", mode_label(m))
                })
                .collect();
            if !modes.is_empty() {
                out += &format!("        modes: {}\n", modes.join(" "));
            }
        }
    }
    if out.is_empty() {
        out = "no DRM cards (/dev/dri/card*)\n".into();
    }
    out
}

/// True when a card has a connected screen (used to pick `drm:` by default).
pub fn has_connected_screen() -> bool {
    cards().iter().any(|p| {
        let Ok(card) = Card::open(p) else { return false };
        let Ok(res) = card.resource_handles() else { return false };
        res.connectors()
            .iter()
            .any(|&c| card.get_connector(c, false).is_ok_and(|i| i.state() == connector::State::Connected))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("".parse::<DrmSpec>().unwrap(), DrmSpec::default());
        let s: DrmSpec = "/dev/dri/card1?connector=HDMI-A-1&mode=1280x720".parse().unwrap();
        assert_eq!(s.card.as_deref(), Some(Path::new("/dev/dri/card1")));
        assert_eq!(s.connector.as_deref(), Some("HDMI-A-1"));
        assert_eq!(s.mode, Some(Size::new(1280, 720)));
        assert_eq!(s.to_string(), "drm:/dev/dri/card1?connector=HDMI-A-1&mode=1280x720");
        assert!("?rotate=90".parse::<DrmSpec>().unwrap_err().contains("connector=NAME"));
        assert!("?mode=big".parse::<DrmSpec>().is_err());
    }
}
