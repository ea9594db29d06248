//! Attract mode: while nobody is in front of the mirror, it shows the bundled demo portraits in
//! each of the model's styles in turn, with an invitation to step closer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineError};
use crate::frame::{Frame, Size};
use crate::source::{Source, SourceOptions};
use crate::sources::demo::Demo;

/// How long each style is shown.
const STYLE_PERIOD: Duration = Duration::from_secs(4);

/// The line drawn under the demo.
pub const INVITATION: &str = "Step closer to see yourself";

pub struct AttractShow {
    demo: Demo,
    started: Instant,
}

impl AttractShow {
    pub fn new(size: Size) -> AttractShow {
        // Each portrait is held for two styles' worth of frames at a typical 10 fps.
        let options = SourceOptions { size, hold_frames: 80, fps: 10.0 };
        AttractShow { demo: Demo::new(options), started: Instant::now() }
    }

    /// Starts the tour from the first style.
    pub fn restart(&mut self) {
        self.started = Instant::now();
    }

    /// The next demo picture in the style whose turn it is; the engine's own style is left as it
    /// was. Returns the picture and the style's name.
    pub fn next(&mut self, engine: &mut Engine) -> Result<(Frame, Arc<str>), EngineError> {
        let mut frame = self.demo.next_frame().expect("the demo always has a frame");
        let styles = engine.styles().len();
        let turn = (self.started.elapsed().as_secs_f64() / STYLE_PERIOD.as_secs_f64()) as usize % styles;
        let name: Arc<str> = engine.styles()[turn].as_str().into();
        let current = engine.style_weights().to_vec();
        let mut one = vec![0.0; styles];
        one[turn] = 1.0;
        engine.set_style_weights(&one)?;
        let styled = engine.stylize(&frame.image);
        engine.set_style_weights(&current)?;
        frame.image = styled?;
        Ok((frame, name))
    }
}
