//! Contact sheets: a grid of equally sized images, for training previews and evaluation reports.

use image::{Rgb, RgbImage};

/// Gap between cells, in pixels.
pub const GAP: u32 = 4;
const BACKGROUND: Rgb<u8> = Rgb([24, 24, 24]);

/// Lays `rows` of images out in a grid; each cell is as large as the largest image.
pub fn grid(rows: &[Vec<RgbImage>]) -> RgbImage {
    let cell_w = rows.iter().flatten().map(|i| i.width()).max().unwrap_or(1);
    let cell_h = rows.iter().flatten().map(|i| i.height()).max().unwrap_or(1);
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(1) as u32;
    let width = cols * cell_w + (cols + 1) * GAP;
    let height = rows.len() as u32 * cell_h + (rows.len() as u32 + 1) * GAP;
    let mut sheet = RgbImage::from_pixel(width, height, BACKGROUND);
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let x = GAP + c as u32 * (cell_w + GAP);
            let y = GAP + r as u32 * (cell_h + GAP);
            image::imageops::replace(&mut sheet, img, x as i64, y as i64);
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_cells_in_rows_and_columns() {
        let red = RgbImage::from_pixel(10, 8, Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(10, 8, Rgb([0, 0, 255]));
        let sheet = grid(&[vec![red.clone(), blue.clone()], vec![blue, red]]);
        assert_eq!(sheet.dimensions(), (2 * 10 + 3 * GAP, 2 * 8 + 3 * GAP));
        assert_eq!(sheet.get_pixel(GAP, GAP).0, [255, 0, 0]);
        assert_eq!(sheet.get_pixel(2 * GAP + 10, GAP).0, [0, 0, 255]);
        assert_eq!(sheet.get_pixel(GAP, 2 * GAP + 8).0, [0, 0, 255]);
        assert_eq!(sheet.get_pixel(0, 0).0, BACKGROUND.0);
    }
}
