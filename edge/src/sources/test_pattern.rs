//! `test-pattern:` — a moving, colourful synthetic scene: enough colour, edges and motion to see
//! what a style does and whether it flickers, with no camera and no files.

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, PrimitiveStyle, Rectangle, Triangle};
use image::RgbImage;

use crate::canvas::Canvas;
use crate::frame::{Frame, Size};
use crate::source::{Source, SourceError};

pub struct TestPattern {
    size: Size,
    seq: u64,
}

impl TestPattern {
    pub fn new(size: Size) -> TestPattern {
        TestPattern { size, seq: 0 }
    }

    /// Renders frame number `t` (deterministic, so tests can compare frames).
    pub fn render(size: Size, t: u64) -> RgbImage {
        let (w, h) = (size.width, size.height);
        let phase = t as f32 / 30.0;
        // A hue sweep across, brighter downwards. HSV is linear in value, so one colour per
        // column times one brightness per row: the source must cost little next to inference,
        // or benchmarks that use it measure the pattern.
        let columns: Vec<[f32; 3]> =
            (0..w).map(|x| hsv((x as f32 / w as f32 + 0.1 * phase).fract(), 0.55, 1.0)).collect();
        let mut img = RgbImage::new(w, h);
        for (y, row) in img.as_mut().chunks_exact_mut(3 * w as usize).enumerate() {
            let value = 255.0 * (0.35 + 0.5 * y as f32 / h as f32);
            for (px, c) in row.chunks_exact_mut(3).zip(&columns) {
                px.copy_from_slice(&[(c[0] * value) as u8, (c[1] * value) as u8, (c[2] * value) as u8]);
            }
        }
        let mut canvas = Canvas::new(&mut img);
        let s = w.min(h) as i32;
        let cx = (w as f32 * (0.5 + 0.3 * (phase * 0.9).sin())) as i32;
        let cy = (h as f32 * (0.5 + 0.25 * (phase * 1.3).cos())) as i32;
        let fill = |c: Rgb888| PrimitiveStyle::with_fill(c);
        // A "head and shoulders" that drifts, like a shopper in front of the mirror.
        let _ = Circle::with_center(Point::new(cx, cy - s / 6), (s / 4) as u32)
            .into_styled(fill(Rgb888::new(236, 188, 150)))
            .draw(&mut canvas);
        let _ = Triangle::new(
            Point::new(cx, cy - s / 20),
            Point::new(cx - s / 4, cy + s / 3),
            Point::new(cx + s / 4, cy + s / 3),
        )
        .into_styled(fill(Rgb888::new(40, 70, 200)))
        .draw(&mut canvas);
        // Colour bars and a checkerboard: saturated colours and hard edges.
        let bars = [Rgb888::RED, Rgb888::YELLOW, Rgb888::GREEN, Rgb888::CYAN, Rgb888::BLUE, Rgb888::MAGENTA];
        let bw = (w / 24).max(1);
        for (i, c) in bars.iter().enumerate() {
            let _ = Rectangle::new(Point::new((i as u32 * bw) as i32 + 4, 4), Size2::new(bw, h / 6))
                .into_styled(fill(*c))
                .draw(&mut canvas);
        }
        let cell = (s / 24).max(2);
        let ox = w as i32 - 8 * cell - 4 - ((t as i32 * 2) % (2 * cell));
        for j in 0..6 {
            for i in 0..8 {
                let c = if (i + j) % 2 == 0 { Rgb888::WHITE } else { Rgb888::BLACK };
                let _ = Rectangle::new(
                    Point::new(ox + i * cell, h as i32 - 6 * cell - 4 + j * cell),
                    Size2::new(cell as u32, cell as u32),
                )
                .into_styled(fill(c))
                .draw(&mut canvas);
            }
        }
        img
    }
}

type Size2 = embedded_graphics::geometry::Size;

impl Source for TestPattern {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let frame = Frame::new(self.seq, TestPattern::render(self.size, self.seq));
        self.seq += 1;
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("test-pattern: {}", self.size)
    }
}

/// HSV to RGB, all in 0..=1.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_is_colourful() {
        let size = Size::new(160, 120);
        let a = TestPattern::render(size, 0);
        let b = TestPattern::render(size, 15);
        assert_eq!(a.dimensions(), (160, 120));
        let diff = a.as_raw().iter().zip(b.as_raw()).filter(|(x, y)| x != y).count();
        assert!(diff > a.as_raw().len() / 10, "frames barely differ: {diff}");
        let distinct: std::collections::HashSet<_> = a.pixels().map(|p| p.0).collect();
        assert!(distinct.len() > 100, "only {} colours", distinct.len());
    }
}
