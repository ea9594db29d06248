//! Style selection: a name picks one style, `name=w,name=w` blends several.

/// A request for a mix of styles, by name, before it is matched against a model.
///
/// ```
/// use atelier_edge::style::StyleMix;
/// let styles = vec!["wave".to_string(), "scream".to_string()];
/// let mix: StyleMix = "wave".parse().unwrap();
/// assert_eq!(mix.weights(&styles).unwrap(), vec![1.0, 0.0]);
/// let blend: StyleMix = "wave=0.25,scream=0.75".parse().unwrap();
/// assert_eq!(blend.weights(&styles).unwrap(), vec![0.25, 0.75]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StyleMix {
    parts: Vec<(String, f32)>,
}

/// Most styles one blend may name. A blend reaches every frame, the saved state and every
/// status reply, so its size is bounded where it is parsed (a 130,000-term blend once cut a
/// mirror from 5 to 2 fps across restarts); more terms than a model has styles mean nothing.
pub const MAX_BLEND_TERMS: usize = 32;
/// Longest style name accepted.
pub const MAX_STYLE_NAME: usize = 64;
/// Longest blend spec accepted, in bytes.
pub const MAX_STYLE_SPEC: usize = 1024;

impl StyleMix {
    /// One style at full weight.
    pub fn single(name: &str) -> StyleMix {
        StyleMix { parts: vec![(name.to_string(), 1.0)] }
    }

    /// The weight vector over `styles` (the model's order), normalised to sum to 1 so a blend stays
    /// a convex mix of the learnt styles. Unknown names are an error that lists the model's styles.
    pub fn weights(&self, styles: &[String]) -> Result<Vec<f32>, String> {
        let mut w = vec![0.0; styles.len()];
        for (name, weight) in &self.parts {
            let i = styles
                .iter()
                .position(|s| s == name)
                .ok_or_else(|| format!("unknown style `{name}`; this model has: {}", styles.join(", ")))?;
            w[i] += weight;
        }
        let total: f32 = w.iter().sum();
        Ok(w.into_iter().map(|x| x / total).collect())
    }

    /// A label for the overlay: the name, or `a 30% + b 70%`.
    pub fn label(&self) -> String {
        match self.parts.as_slice() {
            [(name, _)] => name.clone(),
            parts => {
                let total: f32 = parts.iter().map(|p| p.1).sum::<f32>().max(f32::EPSILON);
                parts
                    .iter()
                    .map(|(n, w)| format!("{n} {:.0}%", 100.0 * w / total))
                    .collect::<Vec<_>>()
                    .join(" + ")
            }
        }
    }
}

/// The form [`FromStr`](std::str::FromStr) reads: `name`, or `a=0.3,b=0.7`.
impl std::fmt::Display for StyleMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parts.as_slice() {
            [(name, _)] => f.write_str(name),
            parts => {
                for (i, (name, weight)) in parts.iter().enumerate() {
                    write!(f, "{}{name}={weight}", if i > 0 { "," } else { "" })?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for StyleMix {
    type Err = String;
    fn from_str(s: &str) -> Result<StyleMix, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty style; expected NAME or NAME=WEIGHT,NAME=WEIGHT".into());
        }
        if s.len() > MAX_STYLE_SPEC {
            return Err(format!("style spec of {} bytes; at most {MAX_STYLE_SPEC} are accepted", s.len()));
        }
        if s.split(',').count() > MAX_BLEND_TERMS {
            return Err(format!("a blend names at most {MAX_BLEND_TERMS} styles"));
        }
        let mut parts = Vec::new();
        for part in s.split(',') {
            let (name, weight) = match part.split_once('=') {
                None => (part.trim(), 1.0),
                Some((n, w)) => {
                    let weight: f32 = w
                        .trim()
                        .parse()
                        .map_err(|_| format!("style weight `{w}` in `{s}` is not a number"))?;
                    (n.trim(), weight)
                }
            };
            if name.is_empty() {
                return Err(format!("empty style name in `{s}`"));
            }
            if name.len() > MAX_STYLE_NAME {
                return Err(format!("style names have at most {MAX_STYLE_NAME} bytes"));
            }
            if !weight.is_finite() || weight < 0.0 {
                return Err(format!("style weight for `{name}` must be a finite number >= 0"));
            }
            parts.push((name.to_string(), weight));
        }
        if parts.iter().all(|p| p.1 == 0.0) {
            return Err(format!("style weights in `{s}` are all zero"));
        }
        Ok(StyleMix { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_mixes() {
        let styles = vec!["a".to_string()];
        assert!("".parse::<StyleMix>().is_err());
        assert!("a=x".parse::<StyleMix>().is_err());
        assert!("a=-1".parse::<StyleMix>().is_err());
        assert!("a=0".parse::<StyleMix>().is_err());
        // Bounded where parsed: the adversarial test's 130,000-term blend, a long name.
        let huge = vec!["a=1"; 130_000].join(",");
        assert!(huge.parse::<StyleMix>().unwrap_err().contains("at most"));
        let many = vec!["a=1"; MAX_BLEND_TERMS + 1].join(",");
        assert!(many.parse::<StyleMix>().unwrap_err().contains("at most 32 styles"));
        assert!(vec!["a=1"; MAX_BLEND_TERMS].join(",").parse::<StyleMix>().is_ok());
        assert!("x".repeat(MAX_STYLE_NAME + 1).parse::<StyleMix>().is_err());
        let err = "b".parse::<StyleMix>().unwrap().weights(&styles).unwrap_err();
        assert!(err.contains("unknown style `b`") && err.contains("a"), "{err}");
    }

    #[test]
    fn labels() {
        assert_eq!("a".parse::<StyleMix>().unwrap().label(), "a");
        assert_eq!("a=1,b=3".parse::<StyleMix>().unwrap().label(), "a 25% + b 75%");
        for spec in ["a", "a=0.25,b=0.75"] {
            assert_eq!(spec.parse::<StyleMix>().unwrap().to_string(), spec);
        }
    }
}
