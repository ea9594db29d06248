//! The per-frame work around inference, each half as the pipeline does it:
//! capture (YUYV or MJPEG 640×480 → RGB, resize to the 320×240 model size, mirror flip) and
//! output (320×240 stylized frame → a 1280×800 screen: scale, overlay, rotate and convert into
//! XRGB8888 scanout memory); and the person path (segmenter, matte, composite at 320×240).
//!
//! `cargo bench -p atelier-edge --bench frame_path`

use atelier_edge::Size;
use atelier_edge::imageops::{Fit, Scaler, flip_horizontal};
use atelier_edge::overlay::{self, OverlayOptions};
use atelier_edge::sinks::present::{Panel, PixelLayout, Rotation};
use atelier_edge::sources::test_pattern::TestPattern;
use atelier_edge::sources::v4l2::convert::{self, Layout};
use atelier_edge::sources::v4l2::negotiate::PixelFormat;
use criterion::{Criterion, criterion_group, criterion_main};
use image::RgbImage;

const CAMERA: Size = Size::new(640, 480);
const MODEL: Size = Size::new(320, 240);
const PANEL: Size = Size::new(1280, 800);

/// A camera-like YUYV frame: the test pattern, converted.
fn yuyv(rgb: &RgbImage) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 2);
    for pair in rgb.as_raw().chunks_exact(6) {
        let y = |p: &[u8]| (16.0 + 0.257 * p[0] as f32 + 0.504 * p[1] as f32 + 0.098 * p[2] as f32) as u8;
        let (a, b) = (&pair[..3], &pair[3..]);
        let cb = (128.0 - 0.148 * a[0] as f32 - 0.291 * a[1] as f32 + 0.439 * a[2] as f32) as u8;
        let cr = (128.0 + 0.439 * a[0] as f32 - 0.368 * a[1] as f32 - 0.071 * a[2] as f32) as u8;
        out.extend_from_slice(&[y(a), cb, y(b), cr]);
    }
    out
}

fn capture(c: &mut Criterion) {
    let scene = TestPattern::render(CAMERA, 7);
    let raw = yuyv(&scene);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80).encode_image(&scene).unwrap();
    let mut group = c.benchmark_group("capture 640x480 -> 320x240");
    let mut scaler = Scaler::new();
    for (format, data) in [(PixelFormat::Yuyv, &raw), (PixelFormat::Mjpeg, &jpeg)] {
        let layout = Layout { format, width: CAMERA.width, height: CAMERA.height, stride: CAMERA.width * 2 };
        group.bench_function(format!("{format} convert + resize + flip"), |b| {
            b.iter(|| {
                let mut rgb = RgbImage::new(CAMERA.width, CAMERA.height);
                convert::to_rgb(layout, data, &mut rgb).unwrap();
                let mut small = scaler.resize(&rgb, MODEL, Fit::Cover);
                flip_horizontal(&mut small);
                small
            })
        });
    }
    group.finish();
}

fn output(c: &mut Criterion) {
    let stylized = TestPattern::render(MODEL, 3);
    let mut group = c.benchmark_group("output 320x240 -> 1280x800 XRGB8888");
    let stride = PANEL.width as usize * 4;
    let mut scanout = vec![0u8; stride * PANEL.height as usize];
    let mut scaler = Scaler::new();
    let picture = scaler.resize(&stylized, PANEL, Fit::Cover);
    group.bench_function("step: scale", |b| b.iter(|| scaler.resize(&stylized, PANEL, Fit::Cover)));
    group.bench_function("step: overlay", |b| {
        b.iter(|| {
            let mut p = picture.clone();
            overlay::draw(
                &mut p,
                OverlayOptions { show_style: true, show_fps: true },
                "starry-night",
                Some(30.0),
            );
            p
        })
    });
    group.bench_function("step: clone (baseline of the overlay step)", |b| b.iter(|| picture.clone()));
    let mut panel = Panel::new(PANEL, Rotation::R0, PixelLayout::Xrgb8888);
    group.bench_function("step: present", |b| b.iter(|| panel.draw(&picture, &mut scanout, stride)));
    for rotation in [Rotation::R0, Rotation::R90] {
        let mut panel = Panel::new(PANEL, rotation, PixelLayout::Xrgb8888);
        let picture_size = panel.picture_size();
        group.bench_function(format!("scale + overlay + present, rotate {rotation}"), |b| {
            b.iter(|| {
                let mut picture = scaler.resize(&stylized, picture_size, Fit::Cover);
                overlay::draw(
                    &mut picture,
                    OverlayOptions { show_style: true, show_fps: true },
                    "starry-night",
                    Some(30.0),
                );
                panel.draw(&picture, &mut scanout, stride);
            })
        });
    }
    group.finish();
}

/// The person path beside the generator: segment a 320×240 frame (256×144 network), smooth the
/// mask, feather it into a matte and composite over a dimmed background.
fn person(c: &mut Criterion) {
    use atelier_edge::person::{Background, MaskSmoother, Segmenter, composite};
    let frame = atelier_edge::sources::demo::sample(MODEL);
    let mut segmenter = Segmenter::builtin();
    let mut smoother = MaskSmoother::default();
    let mask = segmenter.segment(&frame).unwrap();
    let mut group = c.benchmark_group("person 320x240");
    group.bench_function("segment (selfie landscape 256x144, tract)", |b| {
        b.iter(|| segmenter.segment(&frame).unwrap())
    });
    group.bench_function("smooth + matte + dim + composite", |b| {
        b.iter(|| {
            let mask = smoother.update(mask.clone());
            let matte = mask.matte(MODEL, 4);
            let background = composite::plain_background(&frame, &Background::Dim).unwrap();
            let mut person = frame.clone();
            composite::over(&mut person, &background, &matte);
            person
        })
    });
    group.finish();
}

criterion_group!(benches, capture, output, person);
criterion_main!(benches);
