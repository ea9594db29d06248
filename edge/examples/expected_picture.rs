//! What the mirror should put on a screen for one raw camera frame, computed step by step with
//! the library (convert, resize to the model size, mirror flip, stylize, fit to the panel,
//! rotate) but without the pipeline, its threads or any device: the device lab compares the
//! real screen (a QEMU screendump) with this.
//!
//! ```sh
//! cargo run --example expected_picture -- FRAME.raw YUYV 640x480 1280x800 OUT.ppm [--style NAME] \
//!     [--no-mirror] [--rotate 90] [--fit fit] [--model-size 320x240] [--model FILE]
//! ```
//! Writes a binary PPM the size of the panel (the screen as scanned out).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use atelier_edge::imageops::{Fit, Scaler, flip_horizontal};
use atelier_edge::sinks::present::{self, PixelLayout, Rotation, Scanout};
use atelier_edge::sources::v4l2::convert::{self, Layout};
use atelier_edge::sources::v4l2::negotiate::PixelFormat;
use atelier_edge::style::StyleMix;
use atelier_edge::{Engine, EngineOptions, Size};
use image::RgbImage;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        bail!(
            "usage: expected_picture FRAME FORMAT WxH PANEL_WxH OUT.ppm [--style NAME] [--no-mirror] [--rotate DEG] [--fit fill|fit] [--model-size WxH] [--model FILE]"
        );
    }
    let frame = std::fs::read(&args[0]).with_context(|| format!("cannot read {}", args[0]))?;
    let fourcc: [u8; 4] = args[1].as_bytes().try_into().context("FORMAT is a fourcc such as YUYV")?;
    let format = PixelFormat::from_fourcc(fourcc).context("FORMAT: YUYV, MJPG, NV12 or RGB3")?;
    let size: Size = args[2].parse().map_err(anyhow::Error::msg)?;
    let panel: Size = args[3].parse().map_err(anyhow::Error::msg)?;
    let out = PathBuf::from(&args[4]);
    let (mut style, mut mirror, mut rotation, mut fit) = (None, true, Rotation::R0, Fit::Cover);
    let (mut model_size, mut model) = (Size::new(320, 240), PathBuf::from("models/default.onnx"));
    let mut rest = args[5..].iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--style" => style = Some(value()?),
            "--no-mirror" => mirror = false,
            "--rotate" => rotation = value()?.parse().map_err(anyhow::Error::msg)?,
            "--fit" => fit = value()?.parse().map_err(anyhow::Error::msg)?,
            "--model-size" => model_size = value()?.parse().map_err(anyhow::Error::msg)?,
            "--model" => model = value()?.into(),
            _ => bail!("unknown flag {flag}"),
        }
    }
    let mut rgb = RgbImage::new(size.width, size.height);
    let layout = Layout { format, width: size.width, height: size.height, stride: 0 };
    convert::to_rgb(layout, &frame, &mut rgb)?;
    let mut scaler = Scaler::new();
    let mut small = scaler.resize(&rgb, model_size, Fit::Cover);
    if mirror {
        flip_horizontal(&mut small);
    }
    let mut engine = Engine::load(&model, EngineOptions::default())?;
    let mix = match style {
        Some(s) => s.parse::<StyleMix>().map_err(anyhow::Error::msg)?,
        None => StyleMix::single(&engine.styles()[0]),
    };
    engine.set_style_weights(&mix.weights(engine.styles()).map_err(anyhow::Error::msg)?)?;
    let stylized = engine.stylize(&small)?;
    let picture = scaler.resize(&stylized, rotation.picture_size(panel), fit);
    let stride = panel.width as usize * 4;
    let mut xrgb = vec![0u8; stride * panel.height as usize];
    present::blit(
        &picture,
        rotation,
        &mut Scanout { pixels: &mut xrgb, size: panel, stride, layout: PixelLayout::Xrgb8888 },
    );
    let mut ppm = format!("P6\n{} {}\n255\n", panel.width, panel.height).into_bytes();
    ppm.extend(xrgb.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0]]));
    std::fs::write(&out, ppm).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
