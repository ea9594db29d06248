//! A person mask: per-pixel probabilities, smoothed over time, feathered into an alpha matte.

use crate::frame::Size;

/// Person probability per pixel, row-major, in [0,1], at the segmenter's resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Mask {
    pub fn new(width: u32, height: u32, data: Vec<f32>) -> Mask {
        assert_eq!(data.len(), (width * height) as usize, "mask data does not match its size");
        Mask { width, height, data }
    }

    /// Everyone's probability `p` (a test and start-up helper).
    pub fn filled(width: u32, height: u32, p: f32) -> Mask {
        Mask::new(width, height, vec![p; (width * height) as usize])
    }

    /// The fraction of the picture that is person (probability above ½).
    pub fn coverage(&self) -> f32 {
        self.data.iter().filter(|&&p| p > 0.5).count() as f32 / self.data.len().max(1) as f32
    }

    /// The alpha matte at `size`: bilinear up-sampling, a soft threshold (probabilities between
    /// 0.3 and 0.7 ramp from background to person, so the network's uncertain rim does not show
    /// as a grey halo), then a box blur of `feather` pixels each side, twice (close to a Gaussian),
    /// so the cut between the stylized person and the background is a soft edge.
    pub fn matte(&self, size: Size, feather: u32) -> Vec<f32> {
        let mut alpha = resize_bilinear(self, size);
        for a in &mut alpha {
            *a = smoothstep(0.3, 0.7, *a);
        }
        if feather > 0 {
            for _ in 0..2 {
                box_blur(&mut alpha, size.width as usize, size.height as usize, feather as usize);
            }
        }
        alpha
    }
}

/// Smooths masks over time so the edge does not crawl on live video: an exponential moving
/// average per pixel. It rises faster than it falls, so a person who steps in shows at once
/// while a single missed frame does not cut a hole.
#[derive(Debug, Clone)]
pub struct MaskSmoother {
    rise: f32,
    fall: f32,
    state: Option<Mask>,
}

impl MaskSmoother {
    /// `rise` and `fall`: the share of a new observation taken per frame when the probability
    /// goes up and down (1.0 = no smoothing).
    pub fn new(rise: f32, fall: f32) -> MaskSmoother {
        MaskSmoother { rise: rise.clamp(0.01, 1.0), fall: fall.clamp(0.01, 1.0), state: None }
    }

    /// Folds in a new mask and returns the smoothed one. A mask of another size restarts it.
    pub fn update(&mut self, mask: Mask) -> &Mask {
        match &mut self.state {
            Some(s) if s.width == mask.width && s.height == mask.height => {
                for (s, &m) in s.data.iter_mut().zip(&mask.data) {
                    let k = if m > *s { self.rise } else { self.fall };
                    *s += k * (m - *s);
                }
            }
            state => *state = Some(mask),
        }
        self.state.as_ref().expect("just set")
    }

    pub fn current(&self) -> Option<&Mask> {
        self.state.as_ref()
    }
}

impl Default for MaskSmoother {
    /// A person who steps in is 94 % in the matte after 3 frames (1 − 0.4³); a pixel the network
    /// misses for one frame keeps 65 % of its weight.
    fn default() -> Self {
        MaskSmoother::new(0.6, 0.35)
    }
}

fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Bilinear resampling with half-pixel centres (as the network's own Resize does).
fn resize_bilinear(mask: &Mask, size: Size) -> Vec<f32> {
    let (sw, sh) = (mask.width as usize, mask.height as usize);
    let (dw, dh) = (size.width as usize, size.height as usize);
    let coords = |d: usize, s: usize| -> Vec<(usize, usize, f32)> {
        (0..d)
            .map(|i| {
                let x = ((i as f32 + 0.5) * s as f32 / d as f32 - 0.5).clamp(0.0, (s - 1) as f32);
                let x0 = x.floor() as usize;
                (x0, (x0 + 1).min(s - 1), x - x0 as f32)
            })
            .collect()
    };
    let (xs, ys) = (coords(dw, sw), coords(dh, sh));
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &ys {
        let (r0, r1) = (&mask.data[y0 * sw..][..sw], &mask.data[y1 * sw..][..sw]);
        for &(x0, x1, fx) in &xs {
            let top = r0[x0] + fx * (r0[x1] - r0[x0]);
            let bottom = r1[x0] + fx * (r1[x1] - r1[x0]);
            out.push(top + fy * (bottom - top));
        }
    }
    out
}

/// In-place box blur of radius `r` (window 2r+1, edges clamped), rows then columns, with running
/// sums: O(pixels) whatever the radius, two line buffers for the whole picture.
pub(crate) fn box_blur(data: &mut [f32], w: usize, h: usize, r: usize) {
    let mut src = Vec::with_capacity(w.max(h));
    let mut out = Vec::with_capacity(w.max(h));
    for y in 0..h {
        src.clear();
        src.extend_from_slice(&data[y * w..][..w]);
        blur_line(&src, r, &mut out);
        data[y * w..][..w].copy_from_slice(&out);
    }
    for x in 0..w {
        src.clear();
        src.extend((0..h).map(|y| data[y * w + x]));
        blur_line(&src, r, &mut out);
        for (y, v) in out.iter().enumerate() {
            data[y * w + x] = *v;
        }
    }
}

/// One line of [`box_blur`] into `out`.
fn blur_line(src: &[f32], r: usize, out: &mut Vec<f32>) {
    let n = src.len() as isize;
    let at = |i: isize| src[i.clamp(0, n - 1) as usize];
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut sum: f32 = (-(r as isize)..=r as isize).map(at).sum();
    out.clear();
    for i in 0..n {
        out.push(sum * norm);
        sum += at(i + r as isize + 1) - at(i - r as isize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16×8 mask with a person in columns 4..12.
    fn block() -> Mask {
        let data =
            (0..8).flat_map(|_| (0..16).map(|x| if (4..12).contains(&x) { 0.95 } else { 0.02 })).collect();
        Mask::new(16, 8, data)
    }

    #[test]
    fn coverage_counts_person_pixels() {
        assert_eq!(block().coverage(), 0.5);
        assert_eq!(Mask::filled(4, 4, 0.2).coverage(), 0.0);
    }

    #[test]
    fn matte_keeps_the_person_and_feathers_its_edge() {
        let size = Size::new(64, 32);
        let hard = block().matte(size, 0);
        let soft = block().matte(size, 3);
        let at = |m: &[f32], x: usize| m[16 * 64 + x];
        // Inside and outside are kept; at the edge (x = 16) the feathered matte ramps smoothly.
        assert!(at(&soft, 32) > 0.99 && at(&soft, 2) < 0.01, "{} {}", at(&soft, 32), at(&soft, 2));
        for x in 10..22 {
            assert!(at(&soft, x + 1) >= at(&soft, x), "not monotonic at {x}");
        }
        let steps = |m: &[f32]| (0..63).map(|x| (at(m, x + 1) - at(m, x)).abs()).fold(0f32, f32::max);
        assert!(steps(&soft) < 0.2 && steps(&hard) > 0.4, "soft {} hard {}", steps(&soft), steps(&hard));
        // The total is conserved by the blur (the person neither grows nor shrinks).
        let sum = |m: &[f32]| m.iter().sum::<f32>();
        assert!((sum(&soft) - sum(&hard)).abs() / sum(&hard) < 0.02);
    }

    #[test]
    fn smoother_rises_fast_falls_slowly_and_settles() {
        let mut s = MaskSmoother::new(0.6, 0.35);
        s.update(Mask::filled(2, 2, 0.0));
        let up = s.update(Mask::filled(2, 2, 1.0)).data[0];
        assert!((up - 0.6).abs() < 1e-6);
        let down = s.update(Mask::filled(2, 2, 0.0)).data[0];
        assert!((down - 0.6 * 0.65).abs() < 1e-6);
        for _ in 0..20 {
            s.update(Mask::filled(2, 2, 1.0));
        }
        assert!(s.current().unwrap().data[0] > 0.999);
        // A flickering pixel (on, off, on, ...) is held near its mean instead of blinking.
        let mut flicker = MaskSmoother::default();
        let values: Vec<f32> =
            (0..40).map(|i| flicker.update(Mask::filled(1, 1, (i % 2) as f32)).data[0]).collect();
        let spread = values[20..].iter().fold(0f32, |a, &v| a.max(v))
            - values[20..].iter().fold(1f32, |a, &v| a.min(v));
        assert!(spread < 0.7, "spread {spread}");
        // A new size restarts.
        assert_eq!(s.update(Mask::filled(3, 1, 0.25)).data, vec![0.25; 3]);
    }

    #[test]
    fn box_blur_of_a_constant_is_the_constant() {
        let mut d = vec![0.5f32; 30];
        box_blur(&mut d, 6, 5, 2);
        assert!(d.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
