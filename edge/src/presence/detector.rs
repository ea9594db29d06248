//! Is someone there? Evidence from the person mask, motion and an optional PIR sensor, with
//! hysteresis: it takes `enter` of steady evidence to count as present (a passer-by crossing the
//! frame does not wake the mirror) and `leave` without any to count as gone (one missed frame
//! does not send it to sleep).

use std::time::{Duration, Instant};

use image::RgbImage;

/// Thresholds and times of presence detection.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PresenceConfig {
    /// Share of the picture the person mask must cover.
    pub coverage: f32,
    /// Mean luminance change between observations (0..1), over a 32×24 thumbnail of the whole
    /// picture, that counts as movement. Sensor noise averages out in the thumbnail (σ of a cell
    /// ≈ 0.0005 for a 640×480 camera with σ = 2.5/255 per pixel), so 0.0015 is about 3σ: a
    /// person swaying or breathing near the mirror moves more than that.
    pub motion: f32,
    /// Evidence must hold this long to count as present.
    pub enter: Duration,
    /// No evidence for this long counts as gone.
    pub leave: Duration,
    /// A mask that has not moved for this long is not a person (a poster, a mannequin).
    pub still: Duration,
    /// Use the camera (mask and motion) at all; with a sensor only, false.
    pub camera: bool,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            coverage: 0.06,
            motion: 0.0015,
            enter: Duration::from_millis(500),
            leave: Duration::from_secs(3),
            still: Duration::from_secs(120),
            camera: true,
        }
    }
}

/// What one look at the scene saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observation {
    /// Share of the picture covered by the person mask.
    pub coverage: f32,
    /// Mean luminance change since the previous observation (0..1).
    pub motion: f32,
    /// A presence sensor's reading, when one is configured.
    pub sensor: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct PresenceDetector {
    config: PresenceConfig,
    present: bool,
    evidence_since: Option<Instant>,
    silent_since: Option<Instant>,
    last_motion: Option<Instant>,
}

impl PresenceDetector {
    pub fn new(config: PresenceConfig) -> PresenceDetector {
        PresenceDetector {
            config,
            present: false,
            evidence_since: None,
            silent_since: None,
            last_motion: None,
        }
    }

    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Folds in one observation made at `now`; returns whether someone is present.
    pub fn update(&mut self, seen: Observation, now: Instant) -> bool {
        let c = &self.config;
        if seen.motion >= c.motion {
            self.last_motion = Some(now);
        }
        let moving = self.last_motion.is_some_and(|t| now.duration_since(t) <= c.still);
        let camera = c.camera && seen.coverage >= c.coverage && moving;
        let evidence = camera || seen.sensor == Some(true);
        if evidence {
            self.silent_since = None;
            let since = *self.evidence_since.get_or_insert(now);
            if !self.present && now.duration_since(since) >= c.enter {
                self.present = true;
            }
        } else {
            self.evidence_since = None;
            let since = *self.silent_since.get_or_insert(now);
            if self.present && now.duration_since(since) >= c.leave {
                self.present = false;
            }
        }
        self.present
    }
}

/// Mean luminance change between successive pictures, on a 32×24 thumbnail so sensor noise
/// averages out and the cost is negligible.
#[derive(Debug, Clone, Default)]
pub struct MotionMeter {
    last: Option<Vec<f32>>,
}

const THUMB: (u32, u32) = (32, 24);

impl MotionMeter {
    pub fn update(&mut self, image: &RgbImage) -> f32 {
        let thumb = thumbnail_luma(image);
        let motion = match &self.last {
            Some(last) => {
                thumb.iter().zip(last).map(|(a, b)| (a - b).abs()).sum::<f32>() / thumb.len() as f32
            }
            None => 0.0,
        };
        self.last = Some(thumb);
        motion
    }
}

/// Box-averaged luma (0..1) of `image` on the `THUMB` grid.
fn thumbnail_luma(image: &RgbImage) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let (tw, th) = THUMB;
    let mut sum = vec![0f32; (tw * th) as usize];
    let mut count = vec![0u32; (tw * th) as usize];
    for (x, y, p) in image.enumerate_pixels() {
        let i = ((y * th / h.max(1)) * tw + x * tw / w.max(1)) as usize;
        sum[i] += (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0;
        count[i] += 1;
    }
    sum.iter().zip(&count).map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f32 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(coverage: f32) -> Observation {
        Observation { coverage, motion: 0.01, sensor: None }
    }

    /// Feeds observations every 100 ms from `t0 + from`; returns the last answer.
    fn feed(d: &mut PresenceDetector, t0: Instant, from_ms: u64, n: u64, seen: Observation) -> bool {
        (0..n).map(|i| d.update(seen, t0 + Duration::from_millis(from_ms + i * 100))).last().unwrap()
    }

    #[test]
    fn steady_evidence_wakes_and_silence_sleeps_with_hysteresis() {
        let t0 = Instant::now();
        let mut d = PresenceDetector::new(PresenceConfig::default());
        assert!(!feed(&mut d, t0, 0, 5, person(0.3)), "0.4 s is below the 0.5 s it takes");
        assert!(feed(&mut d, t0, 500, 2, person(0.3)), "0.6 s of evidence is presence");
        // A missed detection or two does not end it; 3 s of nothing does.
        assert!(feed(&mut d, t0, 700, 20, person(0.0)));
        assert!(feed(&mut d, t0, 2700, 1, person(0.3)));
        assert!(feed(&mut d, t0, 2800, 30, person(0.0)));
        assert!(!feed(&mut d, t0, 5800, 2, person(0.0)));
    }

    #[test]
    fn a_passer_by_does_not_count() {
        let t0 = Instant::now();
        let mut d = PresenceDetector::new(PresenceConfig::default());
        for k in 0..10 {
            // 0.3 s in view, 1 s gone: ten times.
            assert!(!feed(&mut d, t0, k * 1300, 3, person(0.4)));
            assert!(!feed(&mut d, t0, k * 1300 + 300, 10, person(0.0)));
        }
    }

    #[test]
    fn a_still_mask_or_a_small_one_is_not_a_person_but_a_sensor_is() {
        let t0 = Instant::now();
        let mut d =
            PresenceDetector::new(PresenceConfig { still: Duration::from_secs(2), ..Default::default() });
        assert!(feed(&mut d, t0, 0, 10, person(0.3)));
        // The mask stays but nothing moves (a poster): after `still` + `leave`, gone.
        let poster = Observation { coverage: 0.3, motion: 0.0, sensor: None };
        assert!(!feed(&mut d, t0, 1000, 60, poster));
        // A shadow: motion, but no person-shaped mask.
        let shadow = Observation { coverage: 0.01, motion: 0.05, sensor: None };
        assert!(!feed(&mut d, t0, 7000, 30, shadow));
        // The PIR sensor alone is evidence.
        let pir = Observation { coverage: 0.0, motion: 0.0, sensor: Some(true) };
        assert!(feed(&mut d, t0, 10_000, 6, pir));
        // With the camera disabled, a mask is ignored.
        let mut blind = PresenceDetector::new(PresenceConfig { camera: false, ..Default::default() });
        assert!(!feed(&mut blind, t0, 0, 20, person(0.5)));
    }

    #[test]
    fn motion_is_the_mean_luminance_change() {
        let mut m = MotionMeter::default();
        assert_eq!(m.update(&RgbImage::from_pixel(64, 48, image::Rgb([0, 0, 0]))), 0.0);
        let half = RgbImage::from_fn(64, 48, |x, _| image::Rgb(if x < 32 { [255; 3] } else { [0; 3] }));
        let motion = m.update(&half);
        assert!((motion - 0.5).abs() < 0.01, "{motion}");
        assert_eq!(m.update(&half), 0.0);
    }
}
