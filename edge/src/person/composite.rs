//! Putting the stylized person and the background together through the person's alpha matte.

use std::fmt;
use std::str::FromStr;

use image::RgbImage;

use super::mask::box_blur;

/// What the style is painted on (`--stylize`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Stylize {
    /// The whole picture (no segmentation).
    All,
    /// The person; the background as `--background` says.
    #[default]
    Person,
    /// The background; the person stays as the camera sees them.
    Background,
}

/// What shows behind a stylized person (`--background`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Background {
    /// The camera picture as it is.
    Original,
    /// The camera picture darkened, so the stylized person stands out.
    #[default]
    Dim,
    /// The camera picture blurred.
    Blur,
    /// The camera picture in another style of the same model.
    Style(String),
}

impl FromStr for Background {
    type Err = String;
    fn from_str(s: &str) -> Result<Background, String> {
        match s {
            "original" => Ok(Background::Original),
            "dim" => Ok(Background::Dim),
            "blur" => Ok(Background::Blur),
            _ => match s.strip_prefix("style:") {
                Some(name) if !name.trim().is_empty() => Ok(Background::Style(name.trim().to_string())),
                _ => Err(format!("`{s}` is not a background; accepted: original, dim, blur, style:NAME")),
            },
        }
    }
}

impl TryFrom<String> for Background {
    type Error = String;
    fn try_from(s: String) -> Result<Background, String> {
        s.parse()
    }
}

impl From<Background> for String {
    fn from(b: Background) -> String {
        b.to_string()
    }
}

impl fmt::Display for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Background::Original => f.write_str("original"),
            Background::Dim => f.write_str("dim"),
            Background::Blur => f.write_str("blur"),
            Background::Style(name) => write!(f, "style:{name}"),
        }
    }
}

/// How much a `dim` background keeps of its brightness.
const DIM: f32 = 0.35;
/// Box radius of a `blur` background, as a share of the picture's width (three passes).
const BLUR_SHARE: f32 = 0.02;

/// Makes a `dim` or `blur` background from the camera picture; `Original` and `Style` are given
/// (the picture itself, or its second stylization).
pub fn plain_background(camera: &RgbImage, background: &Background) -> Option<RgbImage> {
    match background {
        Background::Dim => {
            let mut out = camera.clone();
            for v in out.iter_mut() {
                *v = (*v as f32 * DIM + 0.5) as u8;
            }
            Some(out)
        }
        Background::Blur => Some(blurred(camera, ((camera.width() as f32 * BLUR_SHARE) as usize).max(1))),
        Background::Original | Background::Style(_) => None,
    }
}

/// `alpha · person + (1 − alpha) · background`, per pixel, into `person`.
pub fn over(person: &mut RgbImage, background: &RgbImage, alpha: &[f32]) {
    assert_eq!(person.dimensions(), background.dimensions(), "composite of different sizes");
    assert_eq!(alpha.len(), (person.width() * person.height()) as usize, "matte of another size");
    for ((p, b), &a) in person.pixels_mut().zip(background.pixels()).zip(alpha) {
        for c in 0..3 {
            p[c] = (b[c] as f32 + a * (p[c] as f32 - b[c] as f32) + 0.5) as u8;
        }
    }
}

fn blurred(image: &RgbImage, radius: usize) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut planes: Vec<Vec<f32>> = (0..3).map(|c| image.pixels().map(|p| p[c] as f32).collect()).collect();
    for plane in &mut planes {
        for _ in 0..3 {
            box_blur(plane, w, h, radius);
        }
    }
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb([0, 1, 2].map(|c| (planes[c][i] + 0.5) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_names_round_trip() {
        for s in ["original", "dim", "blur", "style:the-scream"] {
            assert_eq!(s.parse::<Background>().unwrap().to_string(), s);
        }
        let err = "sepia".parse::<Background>().unwrap_err();
        assert!(err.contains("original, dim, blur, style:NAME"), "{err}");
        assert!("style:".parse::<Background>().is_err());
    }

    #[test]
    fn over_follows_the_matte() {
        let mut person = RgbImage::from_pixel(3, 1, image::Rgb([200, 100, 0]));
        let background = RgbImage::from_pixel(3, 1, image::Rgb([0, 100, 200]));
        over(&mut person, &background, &[1.0, 0.5, 0.0]);
        assert_eq!(person.get_pixel(0, 0).0, [200, 100, 0]);
        assert_eq!(person.get_pixel(1, 0).0, [100, 100, 100]);
        assert_eq!(person.get_pixel(2, 0).0, [0, 100, 200]);
    }

    #[test]
    fn dim_darkens_and_blur_softens() {
        let mut camera = RgbImage::from_pixel(40, 20, image::Rgb([200, 200, 200]));
        for y in 0..20 {
            camera.put_pixel(20, y, image::Rgb([0, 0, 0]));
        }
        let dim = plain_background(&camera, &Background::Dim).unwrap();
        assert_eq!(dim.get_pixel(0, 0).0, [70, 70, 70]);
        let blur = plain_background(&camera, &Background::Blur).unwrap();
        let line = blur.get_pixel(20, 10)[0];
        assert!(line > 100 && line < 200, "the dark line should be spread out: {line}");
        assert_eq!(plain_background(&camera, &Background::Original), None);
    }
}
