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
        let mut img = RgbImage::from_fn(w, h, |x, y| {
            let u = x as f32 / w as f32;
            let v = y as f32 / h as f32;
            let hue = (u + 0.1 * phase).fract();
            let [r, g, b] = hsv(hue, 0.55, 0.35 + 0.5 * v);
            image::Rgb([r, g, b])
        });
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

/// HSV (all in 0..=1) to RGB8.
fn hsv(h: f32, s: f32, v: f32) -> [u8; 3] {
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
    [(r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8]
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
