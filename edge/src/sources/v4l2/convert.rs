//! Camera pixel formats to RGB8: YUYV and NV12 (BT.601, limited range, as UVC webcams send),
//! RGB24 with a stride, and MJPEG through `zune-jpeg`.

use image::RgbImage;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::negotiate::PixelFormat;

/// Why a frame could not be converted; the source skips and counts such frames.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("frame has {got} bytes, a {format} {width}x{height} frame needs {need}")]
    Short { format: PixelFormat, width: u32, height: u32, got: usize, need: usize },
    #[error("corrupt JPEG: {0}")]
    Jpeg(String),
}

/// Layout of the frames a device delivers, as the driver reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per line of the (first) plane.
    pub stride: u32,
}

/// Converts one frame into `dst` (which must be `width`×`height`).
pub fn to_rgb(layout: Layout, src: &[u8], dst: &mut RgbImage) -> Result<(), ConvertError> {
    debug_assert_eq!(dst.dimensions(), (layout.width, layout.height));
    let (w, h, stride) = (layout.width as usize, layout.height as usize, layout.stride as usize);
    let short = |need: usize| ConvertError::Short {
        format: layout.format,
        width: layout.width,
        height: layout.height,
        got: src.len(),
        need,
    };
    match layout.format {
        PixelFormat::Yuyv => {
            let stride = stride.max(w * 2);
            let need = stride * (h - 1) + w * 2;
            if src.len() < need {
                return Err(short(need));
            }
            for (y, out) in dst.chunks_exact_mut(w * 3).enumerate() {
                yuyv_row(&src[y * stride..y * stride + w * 2], out);
            }
        }
        PixelFormat::Nv12 => {
            let stride = stride.max(w);
            let need = stride * h + stride * h.div_ceil(2);
            if src.len() < need {
                return Err(short(need));
            }
            let (luma, chroma) = src.split_at(stride * h);
            for (y, out) in dst.chunks_exact_mut(w * 3).enumerate() {
                let uv = &chroma[(y / 2) * stride..];
                nv12_row(&luma[y * stride..y * stride + w], uv, out);
            }
        }
        PixelFormat::Rgb24 => {
            let stride = stride.max(w * 3);
            let need = stride * (h - 1) + w * 3;
            if src.len() < need {
                return Err(short(need));
            }
            for (y, out) in dst.chunks_exact_mut(w * 3).enumerate() {
                out.copy_from_slice(&src[y * stride..y * stride + w * 3]);
            }
        }
        PixelFormat::Mjpeg => decode_jpeg(src, dst)?,
    }
    Ok(())
}

/// Decodes a JPEG frame. Webcams emit truncated or damaged frames now and then; a frame without
/// its start and end markers, of another size, or that the decoder rejects, is an error.
fn decode_jpeg(src: &[u8], dst: &mut RgbImage) -> Result<(), ConvertError> {
    // Some drivers pad `bytesused` with zeros after the end-of-image marker.
    let end = src.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let data = &src[..end];
    if data.len() < 4 || data[..2] != [0xFF, 0xD8] {
        return Err(ConvertError::Jpeg("no start-of-image marker".into()));
    }
    if data[data.len() - 2..] != [0xFF, 0xD9] {
        return Err(ConvertError::Jpeg("no end-of-image marker (truncated frame)".into()));
    }
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder.decode_headers().map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    let (w, h) = decoder.dimensions().ok_or_else(|| ConvertError::Jpeg("no dimensions".into()))?;
    if (w as u32, h as u32) != dst.dimensions() {
        return Err(ConvertError::Jpeg(format!(
            "frame is {w}x{h}, the stream is {}x{}",
            dst.width(),
            dst.height()
        )));
    }
    decoder.decode_into(dst).map_err(|e| ConvertError::Jpeg(e.to_string()))
}

/// BT.601 limited-range YCbCr to RGB in 8.8 fixed point.
#[inline(always)]
fn ycc(y: u8, cb: i32, cr: i32) -> [u8; 3] {
    let c = 298 * (y as i32 - 16) + 128;
    let r = (c + 409 * cr) >> 8;
    let g = (c - 100 * cb - 208 * cr) >> 8;
    let b = (c + 516 * cb) >> 8;
    [r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]
}

fn yuyv_row(src: &[u8], out: &mut [u8]) {
    for (px, rgb) in src.chunks_exact(4).zip(out.chunks_exact_mut(6)) {
        let (cb, cr) = (px[1] as i32 - 128, px[3] as i32 - 128);
        rgb[..3].copy_from_slice(&ycc(px[0], cb, cr));
        rgb[3..].copy_from_slice(&ycc(px[2], cb, cr));
    }
}

fn nv12_row(luma: &[u8], uv: &[u8], out: &mut [u8]) {
    for (x, rgb) in out.chunks_exact_mut(3).enumerate() {
        let c = (x / 2) * 2;
        rgb.copy_from_slice(&ycc(luma[x], uv[c] as i32 - 128, uv[c + 1] as i32 - 128));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limited-range YCbCr of a colour, the inverse of `ycc` (rounded).
    fn to_ycc([r, g, b]: [f32; 3]) -> [u8; 3] {
        let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
        let cb = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
        let cr = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
        [y.round() as u8, cb.round() as u8, cr.round() as u8]
    }

    const COLOURS: [[u8; 3]; 5] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [40, 120, 200]];

    fn close(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() <= 3)
    }

    #[test]
    fn yuyv_with_stride_round_trips_colours() {
        let (w, h, stride) = (10u32, 5u32, 24u32);
        let mut src = vec![0xAAu8; (stride * h) as usize];
        for y in 0..h as usize {
            for x in (0..w as usize).step_by(2) {
                let c = COLOURS[(x / 2 + y) % COLOURS.len()];
                let [yy, cb, cr] = to_ycc(c.map(|v| v as f32));
                src[y * stride as usize + x * 2..][..4].copy_from_slice(&[yy, cb, yy, cr]);
            }
        }
        let mut dst = RgbImage::new(w, h);
        to_rgb(Layout { format: PixelFormat::Yuyv, width: w, height: h, stride }, &src, &mut dst).unwrap();
        for y in 0..h {
            for x in 0..w {
                let want = COLOURS[(x as usize / 2 + y as usize) % COLOURS.len()];
                assert!(
                    close(dst.get_pixel(x, y).0, want),
                    "({x},{y}) {:?} vs {want:?}",
                    dst.get_pixel(x, y).0
                );
            }
        }
    }

    #[test]
    fn nv12_round_trips_colours() {
        let (w, h) = (4u32, 4u32);
        let mut src = vec![0u8; 16 + 8];
        for y in 0..4 {
            for x in 0..4 {
                let c = COLOURS[(x / 2 + 2 * (y / 2)) % 4];
                let [yy, cb, cr] = to_ycc(c.map(|v| v as f32));
                src[y * 4 + x] = yy;
                src[16 + (y / 2) * 4 + (x / 2) * 2..][..2].copy_from_slice(&[cb, cr]);
            }
        }
        let mut dst = RgbImage::new(w, h);
        to_rgb(Layout { format: PixelFormat::Nv12, width: w, height: h, stride: w }, &src, &mut dst).unwrap();
        for y in 0..4 {
            for x in 0..4 {
                let want = COLOURS[(x as usize / 2 + 2 * (y as usize / 2)) % 4];
                assert!(close(dst.get_pixel(x, y).0, want));
            }
        }
    }

    #[test]
    fn short_frames_are_errors_not_panics() {
        let mut dst = RgbImage::new(8, 8);
        for format in PixelFormat::ALL {
            let layout = Layout { format, width: 8, height: 8, stride: 0 };
            assert!(to_rgb(layout, &[0u8; 7], &mut dst).is_err(), "{format}");
        }
    }

    #[test]
    fn mjpeg_decodes_and_rejects_truncated_frames() {
        let img = RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 128]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&img).unwrap();
        let layout = Layout { format: PixelFormat::Mjpeg, width: 32, height: 24, stride: 0 };
        let mut dst = RgbImage::new(32, 24);
        // Trailing zeros after EOI, as some drivers leave them, are fine.
        let mut padded = jpeg.clone();
        padded.extend_from_slice(&[0; 100]);
        to_rgb(layout, &padded, &mut dst).unwrap();
        assert!(close(dst.get_pixel(16, 12).0, img.get_pixel(16, 12).0));
        let cut = &jpeg[..jpeg.len() / 2];
        assert!(matches!(to_rgb(layout, cut, &mut dst), Err(ConvertError::Jpeg(_))));
        assert!(to_rgb(layout, b"garbage that is not a jpeg", &mut dst).is_err());
        let mut wrong = RgbImage::new(16, 16);
        let l16 = Layout { width: 16, height: 16, ..layout };
        assert!(to_rgb(l16, &jpeg, &mut wrong).is_err());
    }
}
