//! Finding cameras: capture nodes, their stable names, and what they offer.

use std::path::{Path, PathBuf};

use v4l::Device;
use v4l::capability::Flags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture;

use super::negotiate::{Interval, Mode, PixelFormat};
use crate::frame::Size;

/// `/dev/video*` nodes in numeric order.
pub fn video_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("video")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, p)| p).collect()
}

/// The first node that captures video in a format the mirror decodes (`camera:`).
pub fn first_camera() -> Option<PathBuf> {
    video_nodes().into_iter().find(|p| {
        let Ok(dev) = Device::with_path(p) else { return false };
        let usable = dev.query_caps().is_ok_and(|c| c.capabilities.contains(Flags::VIDEO_CAPTURE))
            && dev
                .enum_formats()
                .is_ok_and(|f| f.iter().any(|d| PixelFormat::from_fourcc(d.fourcc.repr).is_some()));
        // Dropping a `Device` whose close fails would panic; close of a node we just opened
        // and did not stream from does not fail.
        drop(dev);
        usable
    })
}

/// The udev link (`/dev/v4l/by-id/...`, else `by-path`) that names the same device as `path`:
/// it survives renumbering when a camera is unplugged and comes back.
pub fn stable_path(path: &Path) -> Option<PathBuf> {
    if path.starts_with("/dev/v4l") {
        return Some(path.to_path_buf());
    }
    let target = path.canonicalize().ok()?;
    ["/dev/v4l/by-id", "/dev/v4l/by-path"].iter().find_map(|dir| {
        let mut links: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
        links.sort();
        links.into_iter().find(|l| l.canonicalize().ok().as_ref() == Some(&target))
    })
}

/// Every size of every decodable format, with its frame intervals. Stepwise ranges are reduced
/// to their ends and the point nearest `want`.
pub fn modes(dev: &Device, want: Size) -> std::io::Result<Vec<Mode>> {
    let mut modes = Vec::new();
    for desc in dev.enum_formats()? {
        let Some(format) = PixelFormat::from_fourcc(desc.fourcc.repr) else { continue };
        for fs in dev.enum_framesizes(desc.fourcc)? {
            for size in sizes(fs.size, want) {
                let intervals = dev
                    .enum_frameintervals(desc.fourcc, size.width, size.height)
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|fi| match fi.interval {
                        FrameIntervalEnum::Discrete(f) => vec![interval(f)],
                        FrameIntervalEnum::Stepwise(s) => vec![interval(s.min), interval(s.max)],
                    })
                    .collect();
                modes.push(Mode { format, size, intervals });
            }
        }
    }
    Ok(modes)
}

fn interval(f: v4l::Fraction) -> Interval {
    Interval { numerator: f.numerator, denominator: f.denominator }
}

fn sizes(size: FrameSizeEnum, want: Size) -> Vec<Size> {
    match size {
        FrameSizeEnum::Discrete(d) => vec![Size::new(d.width, d.height)],
        FrameSizeEnum::Stepwise(s) => {
            let snap = |v: u32, min: u32, max: u32, step: u32| {
                let v = v.clamp(min, max);
                min + (v - min) / step.max(1) * step.max(1)
            };
            let near = Size::new(
                snap(want.width, s.min_width, s.max_width, s.step_width),
                snap(want.height, s.min_height, s.max_height, s.step_height),
            );
            let mut v =
                vec![Size::new(s.min_width, s.min_height), near, Size::new(s.max_width, s.max_height)];
            v.dedup();
            v.retain(|s| s.width > 0 && s.height > 0);
            v
        }
    }
}

/// One camera as `--list-devices` shows it.
pub fn describe_camera(path: &Path) -> String {
    let mut out = String::new();
    let dev = match Device::with_path(path) {
        Ok(d) => d,
        Err(e) => return format!("{}: cannot open: {e}\n", path.display()),
    };
    let caps = match dev.query_caps() {
        Ok(c) => c,
        Err(e) => return format!("{}: not a V4L2 device: {e}\n", path.display()),
    };
    let stable = stable_path(path).filter(|p| p != path);
    out += &format!(
        "{}{}  driver {}, card \"{}\", bus {}\n",
        path.display(),
        stable.map_or(String::new(), |s| format!(" ({})", s.display())),
        caps.driver,
        caps.card,
        caps.bus
    );
    if !caps.capabilities.contains(Flags::VIDEO_CAPTURE) {
        out += "    not a video capture node (metadata or output)\n";
        return out;
    }
    for desc in dev.enum_formats().unwrap_or_default() {
        let usable = PixelFormat::from_fourcc(desc.fourcc.repr).is_some();
        out += &format!(
            "    {} ({}){}\n",
            desc.fourcc,
            desc.description,
            if usable { "" } else { "  [not decoded by the mirror]" }
        );
        if !usable {
            continue;
        }
        for fs in dev.enum_framesizes(desc.fourcc).unwrap_or_default() {
            for size in sizes(fs.size, Size::new(640, 480)) {
                let rates: Vec<String> = dev
                    .enum_frameintervals(desc.fourcc, size.width, size.height)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|fi| match fi.interval {
                        FrameIntervalEnum::Discrete(f) => format!("{}", interval(f).fps()),
                        FrameIntervalEnum::Stepwise(s) => {
                            format!("{}-{}", interval(s.max).fps(), interval(s.min).fps())
                        }
                    })
                    .collect();
                out += &format!("        {size}  {} fps\n", rates.join(", "));
            }
        }
    }
    out
}
