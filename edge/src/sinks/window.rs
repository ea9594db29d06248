//! `window:` — a fullscreen window on a desktop (Wayland or X11), for mirrors whose screen a
//! compositor owns (Raspberry Pi OS with its desktop): KMS from another process is refused there.
//!
//! winit and softbuffer present a CPU buffer; their X11 and Wayland libraries are loaded at run
//! time. winit's event loop runs on a thread of its own (allowed on Linux) so the pipeline stays
//! as it is: `write` hands the picture over and wakes that thread. `window:?windowed` opens an
//! ordinary window for development.

use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use image::RgbImage;
use winit::application::ApplicationHandler;
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop, EventLoopProxy};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Fullscreen, Window, WindowId};

use crate::frame::{Frame, Size};
use crate::imageops::{Fit, Scaler};
use crate::sink::{Sink, SinkError};

/// `window:[?windowed]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowSpec {
    pub windowed: bool,
}

impl std::str::FromStr for WindowSpec {
    type Err = String;
    fn from_str(rest: &str) -> Result<WindowSpec, String> {
        match rest {
            "" => Ok(WindowSpec { windowed: false }),
            "?windowed" => Ok(WindowSpec { windowed: true }),
            _ => Err(format!("window:{rest}: accepted: window: (fullscreen) or window:?windowed")),
        }
    }
}

impl std::fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.windowed { "window:?windowed" } else { "window:" })
    }
}

enum UiEvent {
    Frame,
    Quit,
}

/// The picture waiting to be drawn, and whether the window is gone.
#[derive(Default)]
struct Shared {
    picture: Mutex<Option<RgbImage>>,
    closed: AtomicBool,
}

pub struct WindowSink {
    shared: Arc<Shared>,
    proxy: EventLoopProxy<UiEvent>,
    thread: Option<JoinHandle<()>>,
    size: Size,
    described: String,
}

impl WindowSink {
    pub fn open(spec: &WindowSpec) -> Result<WindowSink, SinkError> {
        let open_err = |message: String| SinkError::Open { uri: spec.to_string(), message };
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let windowed = spec.windowed;
        let ui_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("window".into())
            .spawn(move || ui_thread(windowed, ui_shared, ready_tx))
            .map_err(|e| open_err(e.to_string()))?;
        let (proxy, size, described) = match ready_rx.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(message)) => return Err(open_err(message)),
            Err(_) => return Err(open_err("the window thread stopped before opening a window".into())),
        };
        Ok(WindowSink { shared, proxy, thread: Some(thread), size, described })
    }
}

impl Sink for WindowSink {
    fn write(&mut self, frame: Frame) -> Result<(), SinkError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(SinkError::Closed("the window was closed".into()));
        }
        *self.shared.picture.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame.image);
        self.proxy.send_event(UiEvent::Frame).map_err(|_| SinkError::Closed("the window was closed".into()))
    }

    fn describe(&self) -> String {
        self.described.clone()
    }

    fn picture_size(&self) -> Option<Size> {
        Some(self.size)
    }
}

impl Drop for WindowSink {
    fn drop(&mut self) {
        let _ = self.proxy.send_event(UiEvent::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Ready = Result<(EventLoopProxy<UiEvent>, Size, String), String>;

fn ui_thread(windowed: bool, shared: Arc<Shared>, ready: mpsc::Sender<Ready>) {
    let mut builder = EventLoop::<UiEvent>::with_user_event();
    {
        use winit::platform::wayland::EventLoopBuilderExtWayland;
        use winit::platform::x11::EventLoopBuilderExtX11;
        EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
        EventLoopBuilderExtWayland::with_any_thread(&mut builder, true);
    }
    let event_loop = match builder.build() {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "cannot reach a desktop ({e}); window: needs a Wayland or X11 session \
                 (WAYLAND_DISPLAY or DISPLAY); without one use --output drm:"
            )));
            return;
        }
    };
    let mut ui = Ui {
        windowed,
        shared: shared.clone(),
        ready: Some(ready),
        proxy: Some(event_loop.create_proxy()),
        ..Ui::default()
    };
    if let (Err(e), Some(ready)) = (event_loop.run_app(&mut ui), ui.ready.take()) {
        let _ = ready.send(Err(format!("the window's event loop failed: {e}")));
    }
    shared.closed.store(true, Ordering::SeqCst);
}

#[derive(Default)]
struct Ui {
    windowed: bool,
    shared: Arc<Shared>,
    ready: Option<mpsc::Sender<Ready>>,
    proxy: Option<EventLoopProxy<UiEvent>>,
    window: Option<Rc<Window>>,
    surface: Option<softbuffer::Surface<Rc<Window>, Rc<Window>>>,
    /// The last picture, redrawn when the window is exposed or resized.
    shown: Option<RgbImage>,
    scaler: Scaler,
}

impl Ui {
    fn open(&mut self, event_loop: &ActiveEventLoop) -> Result<(Size, String), String> {
        let mut attributes = Window::default_attributes().with_title("Atelier mirror");
        if self.windowed {
            attributes = attributes.with_inner_size(winit::dpi::PhysicalSize::new(960u32, 720u32));
        } else {
            attributes =
                attributes.with_fullscreen(Some(Fullscreen::Borderless(None))).with_decorations(false);
            // Kiosk X servers often run without a window manager, which ignores the fullscreen
            // request: cover the monitor explicitly as well.
            if let Some(m) = event_loop.primary_monitor().or_else(|| event_loop.available_monitors().next()) {
                attributes = attributes.with_inner_size(m.size()).with_position(m.position());
            }
        }
        let window = Rc::new(
            event_loop.create_window(attributes).map_err(|e| format!("cannot create a window: {e}"))?,
        );
        window.set_cursor_visible(false);
        let context = softbuffer::Context::new(window.clone())
            .map_err(|e| format!("cannot draw in the window: {e}"))?;
        let surface = softbuffer::Surface::new(&context, window.clone())
            .map_err(|e| format!("cannot draw in the window: {e}"))?;
        // Fullscreen takes the monitor's size, which the window may only get a moment later.
        let size = match (self.windowed, window.current_monitor()) {
            (false, Some(m)) => m.size(),
            _ => window.inner_size(),
        };
        let size = Size::new(size.width.max(1), size.height.max(1));
        let kind = if self.windowed { "windowed" } else { "fullscreen" };
        self.window = Some(window);
        self.surface = Some(surface);
        Ok((size, format!("window: {kind} {size}")))
    }

    fn draw(&mut self) {
        let (Some(window), Some(surface)) = (&self.window, self.surface.as_mut()) else { return };
        let Some(picture) = &self.shown else { return };
        let inner = window.inner_size();
        let (Some(w), Some(h)) = (NonZeroU32::new(inner.width), NonZeroU32::new(inner.height)) else {
            return;
        };
        if surface.resize(w, h).is_err() {
            return;
        }
        let scaled;
        let picture = if picture.dimensions() == (inner.width, inner.height) {
            picture
        } else {
            scaled = self.scaler.resize(picture, Size::new(inner.width, inner.height), Fit::Cover);
            &scaled
        };
        let Ok(mut buffer) = surface.buffer_mut() else { return };
        for (dst, px) in buffer.iter_mut().zip(picture.pixels()) {
            let [r, g, b] = px.0;
            *dst = (r as u32) << 16 | (g as u32) << 8 | b as u32;
        }
        let _ = buffer.present();
    }
}

impl ApplicationHandler<UiEvent> for Ui {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        let result = self.open(event_loop);
        let failed = result.is_err();
        if let (Some(ready), Some(proxy)) = (self.ready.take(), self.proxy.take()) {
            let _ = ready.send(result.map(|(size, text)| (proxy, size, text)));
        }
        if failed {
            event_loop.exit();
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: UiEvent) {
        match event {
            UiEvent::Frame => {
                let picture = self.shared.picture.lock().unwrap_or_else(|e| e.into_inner()).take();
                if picture.is_some() {
                    self.shown = picture;
                    self.draw();
                }
            }
            UiEvent::Quit => event_loop.exit(),
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested
            | WindowEvent::KeyboardInput {
                event:
                    KeyEvent { logical_key: Key::Named(NamedKey::Escape), state: ElementState::Pressed, .. },
                ..
            } => {
                self.shared.closed.store(true, Ordering::SeqCst);
                event_loop.exit();
            }
            WindowEvent::RedrawRequested | WindowEvent::Resized(_) => self.draw(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert!(!"".parse::<WindowSpec>().unwrap().windowed);
        assert!("?windowed".parse::<WindowSpec>().unwrap().windowed);
        assert!("?tiny".parse::<WindowSpec>().is_err());
        assert_eq!(WindowSpec { windowed: true }.to_string(), "window:?windowed");
    }
}
