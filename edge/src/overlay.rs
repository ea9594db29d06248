//! The text drawn over the mirror image: the current style, and the frame rate when enabled.

use embedded_graphics::mono_font::ascii::{FONT_6X10, FONT_10X20};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};
use image::RgbImage;

use crate::canvas::Canvas;

/// What the overlay shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OverlayOptions {
    pub show_style: bool,
    pub show_fps: bool,
}

impl Default for OverlayOptions {
    fn default() -> Self {
        OverlayOptions { show_style: true, show_fps: false }
    }
}

/// Panel behind the text: dark enough to read on any style, light enough to see through.
const SHADE: f32 = 0.6;
const MARGIN: i32 = 6;

/// Draws the overlay onto a finished frame.
pub fn draw(image: &mut RgbImage, options: OverlayOptions, style: &str, fps: Option<f32>) {
    let font = font_for(image.height());
    let mut canvas = Canvas::new(image);
    let size = canvas.size();
    if options.show_style && !style.is_empty() {
        let pos = Point::new(MARGIN, size.height as i32 - MARGIN - font.character_size.height as i32);
        label(&mut canvas, font, pos, style);
    }
    if let (true, Some(fps)) = (options.show_fps, fps) {
        let text = format!("{fps:.1} fps");
        let width = (text.len() as u32 * font.character_size.width) as i32;
        label(&mut canvas, font, Point::new(size.width as i32 - MARGIN - width, MARGIN), &text);
    }
}

/// Dims the whole picture and writes a message in its middle: what the screen shows when the
/// camera is away, so the screen is never black without a reason.
pub fn notice(image: &mut RgbImage, lines: &[&str]) {
    let font = font_for(image.height());
    let mut canvas = Canvas::new(image);
    let size = canvas.size();
    canvas.shade(Point::zero(), size, 0.65);
    let line_height = font.character_size.height as i32 + 6;
    let top = size.height as i32 / 2 - line_height * lines.len() as i32 / 2;
    for (i, line) in lines.iter().enumerate() {
        let width = (line.chars().count() as u32 * font.character_size.width) as i32;
        let pos = Point::new((size.width as i32 - width).max(0) / 2, top + i as i32 * line_height);
        label(&mut canvas, font, pos, line);
    }
}

/// Text in a band across the upper third (attract mode's invitation, a config problem), where
/// the style label and the frame rate are not. Long text wraps at spaces so none of it runs off
/// the screen; at most [`CAPTION_LINES`] lines, the last one cut with "...".
pub fn caption(image: &mut RgbImage, text: &str) {
    let font = if image.height() >= 200 { &FONT_10X20 } else { &FONT_6X10 };
    let mut canvas = Canvas::new(image);
    let size = canvas.size();
    let columns = ((size.width.saturating_sub(16)) / font.character_size.width).max(1) as usize;
    let lines = wrap(text, columns, CAPTION_LINES);
    let line_height = font.character_size.height + 4;
    let band = line_height * lines.len() as u32 + 12;
    let top = size.height as i32 / 5;
    canvas.shade(Point::new(0, top), Size::new(size.width, band), SHADE);
    let style = MonoTextStyle::new(font, Rgb888::WHITE);
    for (i, line) in lines.iter().enumerate() {
        let width = (line.chars().count() as u32 * font.character_size.width) as i32;
        let pos =
            Point::new((size.width as i32 - width).max(0) / 2, top + 8 + (i as u32 * line_height) as i32);
        let _ = Text::with_baseline(line, pos, style, Baseline::Top).draw(&mut canvas);
    }
}

/// The most lines a caption takes: enough for a config error with its path, little enough to
/// leave the mirror picture visible.
pub const CAPTION_LINES: usize = 5;

/// Greedy word wrap to `columns` characters; a word longer than a line (a path) is split.
fn wrap(text: &str, columns: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.len() <= columns {
                if gap == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            let rest = word.split_off(columns);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.last_mut().expect("max_lines > 0");
        let keep = columns.saturating_sub(3).min(last.chars().count());
        *last = last.chars().take(keep).chain("...".chars()).collect();
    }
    lines
}

/// The region the overlay may cover, for tests that compare frames outside it.
pub fn style_label_band(height: u32) -> u32 {
    let font = font_for(height);
    font.character_size.height + 2 * MARGIN as u32 + 4
}

fn font_for(height: u32) -> &'static MonoFont<'static> {
    if height >= 360 { &FONT_10X20 } else { &FONT_6X10 }
}

fn label(canvas: &mut Canvas, font: &MonoFont, pos: Point, text: &str) {
    let width = text.chars().count() as u32 * font.character_size.width;
    canvas.shade(pos - Point::new(4, 3), Size::new(width + 8, font.character_size.height + 6), SHADE);
    let style = MonoTextStyle::new(font, Rgb888::WHITE);
    let _ = Text::with_baseline(text, pos, style, Baseline::Top).draw(canvas);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_word_within_the_width() {
        let text = "config /etc/atelier/mirror.toml line 2: invalid type; using the last good config \
                    (/var/lib/atelier/last-good__etc_atelier_mirror.toml)";
        let lines = wrap(text, 30, 10);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""), "{lines:?}");
        for pair in lines.windows(2) {
            let next = pair[1].split(' ').next().unwrap().chars().count();
            assert!(pair[0].chars().count() + 1 + next > 30, "broke early: {lines:?}");
        }
        let cut = wrap(text, 30, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with("...") && cut[1].chars().count() <= 30, "{cut:?}");
    }

    #[test]
    fn a_long_caption_stays_on_the_screen() {
        let mut img = RgbImage::from_pixel(320, 240, image::Rgb([0, 0, 0]));
        caption(&mut img, "one two three four five six seven eight nine ten eleven twelve END");
        // Two lines of 10x20 text: the second line's band is written on too.
        let white_rows: Vec<u32> =
            (0..240).filter(|&y| (0..320).any(|x| img.get_pixel(x, y).0[0] > 200)).collect();
        assert!(
            white_rows.first().unwrap() > &48 && white_rows.last().unwrap() > &(48 + 24),
            "{white_rows:?}"
        );
        assert!((0..320).all(|x| img.get_pixel(x, 239).0 == [0, 0, 0]), "band covers the bottom");
    }

    #[test]
    fn notice_dims_and_writes_in_the_middle() {
        let mut img = RgbImage::from_pixel(320, 240, image::Rgb([200, 200, 200]));
        notice(&mut img, &["Camera disconnected", "retrying"]);
        assert!(img.get_pixel(5, 5).0[0] < 100, "not dimmed");
        let white = (100..140)
            .flat_map(|y| (0..320).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [255, 255, 255])
            .count();
        assert!(white > 50, "no text in the middle");
    }

    #[test]
    fn draws_style_name_in_the_bottom_band() {
        let mut img = RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
        draw(&mut img, OverlayOptions::default(), "wave", Some(12.0));
        let band = style_label_band(240);
        let changed = |y0: u32, y1: u32| {
            (y0..y1)
                .flat_map(|y| (0..320).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 != [128, 128, 128])
                .count()
        };
        assert!(changed(240 - band, 240) > 50, "no label drawn");
        assert_eq!(changed(0, 240 - band), 0, "fps drawn although disabled");
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > 20, "no white text");
    }
}
