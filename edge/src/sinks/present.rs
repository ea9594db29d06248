//! Copying a finished picture into a display's scanout memory: pixel format conversion and
//! rotation in one pass, because a Pi's vc4 cannot rotate planes by 90° and a portrait mirror
//! must rotate its own buffer.

use image::RgbImage;

use crate::frame::Size;
use crate::imageops::{Fit, Scaler};

/// How the picture is turned on the panel, clockwise, for mirrors mounted in portrait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub enum Rotation {
    #[default]
    R0,
    R90,
    R180,
    R270,
}

impl Rotation {
    /// The picture size that fills a panel of `panel` pixels after this rotation.
    pub fn picture_size(self, panel: Size) -> Size {
        match self {
            Rotation::R0 | Rotation::R180 => panel,
            Rotation::R90 | Rotation::R270 => Size::new(panel.height, panel.width),
        }
    }
}

impl TryFrom<u32> for Rotation {
    type Error = String;
    fn try_from(d: u32) -> Result<Rotation, String> {
        match d {
            0 => Ok(Rotation::R0),
            90 => Ok(Rotation::R90),
            180 => Ok(Rotation::R180),
            270 => Ok(Rotation::R270),
            _ => Err(format!("rotation {d} is not supported; accepted: 0, 90, 180, 270")),
        }
    }
}

impl From<Rotation> for u32 {
    fn from(r: Rotation) -> u32 {
        match r {
            Rotation::R0 => 0,
            Rotation::R90 => 90,
            Rotation::R180 => 180,
            Rotation::R270 => 270,
        }
    }
}

impl std::str::FromStr for Rotation {
    type Err = String;
    fn from_str(s: &str) -> Result<Rotation, String> {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}` is not a rotation; accepted: 0, 90, 180, 270"))?
            .try_into()
    }
}

impl std::fmt::Display for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", u32::from(*self))
    }
}

/// Scanout pixel layouts (little-endian DRM fourccs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    /// `XR24`: bytes B, G, R, X.
    Xrgb8888,
    /// `RG16`: 5-6-5 bits in a little-endian u16, for panels that offer nothing else.
    Rgb565,
}

impl PixelLayout {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelLayout::Xrgb8888 => 4,
            PixelLayout::Rgb565 => 2,
        }
    }
}

/// A mapped scanout buffer.
pub struct Scanout<'a> {
    pub pixels: &'a mut [u8],
    pub size: Size,
    /// Bytes per line.
    pub stride: usize,
    pub layout: PixelLayout,
}

/// What every screen sink shares: its panel, how the picture is turned on it, and a scaler for
/// pictures of another size (the pipeline makes them the right size; a second screen may not).
pub struct Panel {
    pub size: Size,
    pub rotation: Rotation,
    pub layout: PixelLayout,
    scaler: Scaler,
}

impl Panel {
    pub fn new(size: Size, rotation: Rotation, layout: PixelLayout) -> Panel {
        Panel { size, rotation, layout, scaler: Scaler::new() }
    }

    /// The upright picture size that fills the panel.
    pub fn picture_size(&self) -> Size {
        self.rotation.picture_size(self.size)
    }

    /// Puts `picture` into scanout memory of `stride` bytes per line.
    pub fn draw(&mut self, picture: &RgbImage, pixels: &mut [u8], stride: usize) {
        let want = self.picture_size();
        let scaled;
        let picture = if picture.dimensions() == (want.width, want.height) {
            picture
        } else {
            scaled = self.scaler.resize(picture, want, Fit::Cover);
            &scaled
        };
        blit(picture, self.rotation, &mut Scanout { pixels, size: self.size, stride, layout: self.layout });
    }
}

impl std::fmt::Display for Panel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = match self.layout {
            PixelLayout::Xrgb8888 => "XRGB8888",
            PixelLayout::Rgb565 => "RGB565",
        };
        write!(f, "{} {layout}", self.size)?;
        if self.rotation != Rotation::R0 {
            write!(f, ", rotated {}°", self.rotation)?;
        }
        Ok(())
    }
}

#[inline(always)]
fn put(layout: PixelLayout, dst: &mut [u8], [r, g, b]: [u8; 3]) {
    match layout {
        PixelLayout::Xrgb8888 => dst[..4].copy_from_slice(&[b, g, r, 0xFF]),
        PixelLayout::Rgb565 => {
            let v = ((r as u16 >> 3) << 11) | ((g as u16 >> 2) << 5) | (b as u16 >> 3);
            dst[..2].copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Writes `picture` (upright, `rotation.picture_size(panel)`) into `out`, turned by `rotation`.
pub fn blit(picture: &RgbImage, rotation: Rotation, out: &mut Scanout) {
    let (pw, ph) = (picture.width() as usize, picture.height() as usize);
    let want = rotation.picture_size(out.size);
    assert_eq!((pw, ph), (want.width as usize, want.height as usize), "picture size must match the panel");
    let (w, h) = (out.size.width as usize, out.size.height as usize);
    let bpp = out.layout.bytes_per_pixel();
    let src = picture.as_raw();
    for py in 0..h {
        let row = &mut out.pixels[py * out.stride..py * out.stride + w * bpp];
        if rotation == Rotation::R0 {
            // The common case, kept simple enough for the compiler to vectorise.
            let line = &src[py * pw * 3..(py + 1) * pw * 3];
            match out.layout {
                PixelLayout::Xrgb8888 => {
                    for (d, s) in row.chunks_exact_mut(4).zip(line.chunks_exact(3)) {
                        let px = 0xFF00_0000 | (s[0] as u32) << 16 | (s[1] as u32) << 8 | s[2] as u32;
                        d.copy_from_slice(&px.to_le_bytes());
                    }
                }
                PixelLayout::Rgb565 => {
                    for (d, s) in row.chunks_exact_mut(2).zip(line.chunks_exact(3)) {
                        put(out.layout, d, [s[0], s[1], s[2]]);
                    }
                }
            }
            continue;
        }
        for (px, d) in row.chunks_exact_mut(bpp).enumerate() {
            let (x, y) = match rotation {
                Rotation::R90 => (py, ph - 1 - px),
                Rotation::R180 => (pw - 1 - px, ph - 1 - py),
                Rotation::R270 => (pw - 1 - py, px),
                Rotation::R0 => unreachable!("handled above"),
            };
            let i = (y * pw + x) * 3;
            put(out.layout, d, [src[i], src[i + 1], src[i + 2]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 picture with a distinct colour per pixel.
    fn picture() -> RgbImage {
        RgbImage::from_fn(3, 2, |x, y| image::Rgb([(x * 50) as u8, (y * 100) as u8, 7]))
    }

    fn read(out: &[u8], stride: usize, x: usize, y: usize) -> [u8; 3] {
        let p = &out[y * stride + x * 4..];
        [p[2], p[1], p[0]]
    }

    #[test]
    fn rotations_put_the_top_left_corner_where_a_turned_panel_shows_it() {
        let pic = picture();
        let tl = pic.get_pixel(0, 0).0;
        let tr = pic.get_pixel(2, 0).0;
        // (rotation, panel size, where the picture's top-left and top-right land)
        let cases = [
            (Rotation::R0, (3, 2), (0, 0), (2, 0)),
            (Rotation::R90, (2, 3), (1, 0), (1, 2)),
            (Rotation::R180, (3, 2), (2, 1), (0, 1)),
            (Rotation::R270, (2, 3), (0, 2), (0, 0)),
        ];
        for (rotation, (w, h), at_tl, at_tr) in cases {
            let stride = w * 4 + 8;
            let mut buf = vec![0u8; stride * h];
            let mut out = Scanout {
                pixels: &mut buf,
                size: Size::new(w as u32, h as u32),
                stride,
                layout: PixelLayout::Xrgb8888,
            };
            blit(&pic, rotation, &mut out);
            assert_eq!(read(&buf, stride, at_tl.0, at_tl.1), tl, "{rotation:?} top-left");
            assert_eq!(read(&buf, stride, at_tr.0, at_tr.1), tr, "{rotation:?} top-right");
            // Padding past the visible width stays untouched.
            assert!(buf.chunks(stride).all(|row| row[w * 4..].iter().all(|&b| b == 0)));
        }
    }

    #[test]
    fn rgb565_packs_channels() {
        let pic = RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 255]));
        let mut buf = vec![0u8; 2];
        let mut out =
            Scanout { pixels: &mut buf, size: Size::new(1, 1), stride: 2, layout: PixelLayout::Rgb565 };
        blit(&pic, Rotation::R0, &mut out);
        assert_eq!(u16::from_le_bytes([buf[0], buf[1]]), 0xF81F);
    }

    #[test]
    fn parses_rotations() {
        assert_eq!("90".parse::<Rotation>().unwrap(), Rotation::R90);
        assert!("45".parse::<Rotation>().unwrap_err().contains("0, 90, 180, 270"));
        assert_eq!(Rotation::R270.picture_size(Size::new(1280, 800)), Size::new(800, 1280));
    }
}
