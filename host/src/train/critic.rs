//! The PatchGAN discriminator: judges overlapping ~40-pixel patches as "painted in style s" or
//! "generated", with one output head per style (conditioning by head selection).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

pub struct Critic {
    pub vs: nn::VarStore,
    body: nn::Sequential,
    head: nn::Conv2D,
}

impl Critic {
    pub fn new(styles: usize, device: tch::Device) -> Critic {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let conv = |name: &str, cin: i64, cout: i64, stride: i64| {
            let cfg = nn::ConvConfig { stride, padding: 1, ..Default::default() };
            nn::conv2d(&root / name, cin, cout, 4, cfg)
        };
        // LeakyReLU 0.2 (tch's leaky_relu has a fixed 0.01 slope).
        let leaky = |x: &Tensor| x.maximum(&(x * 0.2));
        let body = nn::seq()
            .add(conv("c0", 3, 32, 2))
            .add_fn(leaky)
            .add(conv("c1", 32, 64, 2))
            .add_fn(leaky)
            .add(conv("c2", 64, 96, 2))
            .add_fn(leaky);
        let head = nn::conv2d(
            &root / "head",
            96,
            styles as i64,
            3,
            nn::ConvConfig { padding: 1, ..Default::default() },
        );
        Critic { vs, body, head }
    }

    /// Patch logits `[B,h,w]` of each sample for its own style (`style_index` `[B]`, i64).
    pub fn logits(&self, x: &Tensor, style_index: &Tensor) -> Tensor {
        let all = self.head.forward(&self.body.forward(&(x * 2.0 - 1.0)));
        let size = all.size();
        let index = style_index.view([-1, 1, 1, 1]).expand([size[0], 1, size[2], size[3]], false);
        all.gather(1, &index, false).squeeze_dim(1)
    }
}

/// Hinge loss for the critic: real patches above +1, generated below −1.
pub fn critic_hinge(real: &Tensor, fake: &Tensor) -> Tensor {
    (real.neg() + 1.0).relu().mean(Kind::Float) + (fake + 1.0).relu().mean(Kind::Float)
}

/// Generator's adversarial loss against the hinge critic, per sample `[B]` (`fake` is `[B,h,w]`).
pub fn generator_hinge(fake: &Tensor) -> Tensor {
    -fake.mean_dim([1i64, 2].as_slice(), false, Kind::Float)
}
