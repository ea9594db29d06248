//! An embedded-graphics [`DrawTarget`] over an RGB8 image, for the overlay and test pattern.

use std::convert::Infallible;

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use image::RgbImage;

/// Draws into a borrowed image; pixels outside it are clipped.
pub struct Canvas<'a> {
    image: &'a mut RgbImage,
}

impl<'a> Canvas<'a> {
    pub fn new(image: &'a mut RgbImage) -> Canvas<'a> {
        Canvas { image }
    }

    /// Darkens a rectangle towards black by `amount` (0..=1): a translucent panel that keeps the
    /// mirror image visible behind overlay text, which embedded-graphics (no alpha) cannot do.
    pub fn shade(&mut self, top_left: Point, size: Size, amount: f32) {
        let keep = (1.0 - amount.clamp(0.0, 1.0)) * 256.0;
        let (w, h) = self.image.dimensions();
        let x0 = top_left.x.clamp(0, w as i32) as u32;
        let y0 = top_left.y.clamp(0, h as i32) as u32;
        let x1 = (top_left.x + size.width as i32).clamp(0, w as i32) as u32;
        let y1 = (top_left.y + size.height as i32).clamp(0, h as i32) as u32;
        for y in y0..y1 {
            for x in x0..x1 {
                let px = self.image.get_pixel_mut(x, y);
                for c in px.0.iter_mut() {
                    *c = ((*c as f32 * keep) as u32 >> 8) as u8;
                }
            }
        }
    }
}

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.image.width(), self.image.height())
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<Rgb888>>,
    {
        let (w, h) = self.image.dimensions();
        for Pixel(p, color) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < w && (p.y as u32) < h {
                self.image.put_pixel(p.x as u32, p.y as u32, image::Rgb([color.r(), color.g(), color.b()]));
            }
        }
        Ok(())
    }
}
