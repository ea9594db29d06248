//! The serial line protocol: SCPI-style text, one command per line, one reply line per command.
//!
//! ```text
//! > *IDN?                        < OK Atelier,atelier-mirror,3f9c0a1b2c4d,0.1.0;protocol=1
//! > STYLE the-scream             < OK the-scream
//! > STYLE sketch                 < ERR 404 unknown style `sketch`; this model has: ...
//! ```
//!
//! Command words are case-insensitive; queries end in `?`. Replies start with `OK` or
//! `ERR <code> <message>` (codes are HTTP statuses). `docs/control.md` lists every command.

use base64::Engine as _;

use super::error::ControlError;
use super::request::{Models, Request, Response, UploadState};
use crate::pipeline::Status;

/// Longest line accepted, terminator excluded; longer lines are answered `ERR 413` and skipped.
pub const MAX_LINE: usize = 8192;
/// Largest chunk payload (bytes before base64) a `CHUNK` line may carry within [`MAX_LINE`].
pub const MAX_CHUNK: usize = 4096;

/// One line per command, for `HELP?` and the docs.
pub const HELP: &[&str] = &[
    "*IDN?",
    "HELP?",
    "STATUS?",
    "STYLES?",
    "STYLE?",
    "STYLE NAME|NAME=W,NAME=W",
    "NEXT",
    "PREV",
    "STRENGTH?",
    "STRENGTH 0..1",
    "MIRROR?",
    "MIRROR ON|OFF",
    "DISPLAY?",
    "DISPLAY ON|OFF",
    "MODEL?",
    "UPLOAD SIZE SHA256",
    "CHUNK OFFSET CRC32 BASE64",
    "ACTIVATE [SHA256|factory]",
    "ROLLBACK",
    "EVENTS ON|OFF",
];

/// Parses one line (without its terminator).
pub fn parse(line: &str) -> Result<Request, ControlError> {
    let line = line.trim();
    let (head, rest) = match line.split_once(char::is_whitespace) {
        Some((head, rest)) => (head, rest.trim()),
        None => (line, ""),
    };
    let head = head.to_ascii_uppercase();
    let args: Vec<&str> = rest.split_whitespace().collect();
    let none = |request: Request| match args.is_empty() {
        true => Ok(request),
        false => Err(ControlError::bad_request(format!("{head} takes no argument"))),
    };
    match head.as_str() {
        "*IDN?" => none(Request::Identify),
        "HELP?" | "HELP" => none(Request::Help),
        "STATUS?" => none(Request::Status),
        "STYLES?" => none(Request::Styles),
        "STYLE?" => none(Request::Style),
        "STYLE" if rest.is_empty() => {
            Err(ControlError::bad_request("STYLE needs a style name; STYLES? lists them"))
        }
        "STYLE" => rest.parse().map(Request::SetStyle).map_err(ControlError::bad_request),
        "NEXT" | "STYLE:NEXT" => none(Request::StepStyle(1)),
        "PREV" | "STYLE:PREV" => none(Request::StepStyle(-1)),
        "STRENGTH?" => none(Request::Strength),
        "STRENGTH" => match rest.parse::<f32>() {
            Ok(s) => super::request::check_strength(s).map(Request::SetStrength),
            Err(_) => Err(ControlError::bad_request("STRENGTH needs a number from 0 to 1")),
        },
        "MIRROR?" => none(Request::Mirror),
        "MIRROR" => on_off(&head, rest).map(Request::SetMirror),
        "DISPLAY?" => none(Request::Display),
        "DISPLAY" => on_off(&head, rest).map(Request::SetDisplay),
        "MODEL?" => none(Request::Model),
        "UPLOAD" => match args.as_slice() {
            [size, sha] => Ok(Request::Upload {
                size: size
                    .parse()
                    .map_err(|_| ControlError::bad_request("UPLOAD: SIZE must be a byte count"))?,
                sha256: sha.to_string(),
            }),
            _ => Err(ControlError::bad_request("usage: UPLOAD SIZE SHA256")),
        },
        "CHUNK" => match args.as_slice() {
            [offset, crc, data] => {
                let offset = offset
                    .parse()
                    .map_err(|_| ControlError::bad_request("CHUNK: OFFSET must be a byte offset"))?;
                let crc32 = (crc.len() == 8)
                    .then(|| u32::from_str_radix(crc, 16).ok())
                    .flatten()
                    .ok_or_else(|| ControlError::bad_request("CHUNK: CRC32 must be 8 hexadecimal digits"))?;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| ControlError::bad_request(format!("CHUNK: data is not base64 ({e})")))?;
                if data.len() > MAX_CHUNK {
                    return Err(ControlError::too_large(format!(
                        "CHUNK: at most {MAX_CHUNK} bytes per chunk"
                    )));
                }
                Ok(Request::Chunk { offset, crc32, data })
            }
            _ => Err(ControlError::bad_request("usage: CHUNK OFFSET CRC32 BASE64")),
        },
        "ACTIVATE" => match args.as_slice() {
            [] => Ok(Request::Activate(None)),
            [sha] => Ok(Request::Activate(Some(sha.to_string()))),
            _ => Err(ControlError::bad_request("usage: ACTIVATE [SHA256|factory]")),
        },
        "ROLLBACK" => none(Request::Rollback),
        "EVENTS" => on_off(&head, rest).map(Request::Events),
        "" => Err(ControlError::bad_request("empty command")),
        _ => Err(ControlError::not_found(format!(
            "unknown command `{}`; HELP? lists the commands",
            head.chars().take(40).collect::<String>()
        ))),
    }
}

fn on_off(head: &str, arg: &str) -> Result<bool, ControlError> {
    match arg.to_ascii_uppercase().as_str() {
        "ON" | "1" => Ok(true),
        "OFF" | "0" => Ok(false),
        _ => Err(ControlError::bad_request(format!("{head} takes ON or OFF"))),
    }
}

/// The reply line for a result, without terminator.
pub fn reply(result: &Result<Response, ControlError>) -> String {
    match result {
        Ok(response) => format!("OK {}", format(response)).trim_end().to_string(),
        Err(e) => format!("ERR {} {}", e.code, e.message),
    }
}

fn format(response: &Response) -> String {
    let on = |b: bool| if b { "ON" } else { "OFF" };
    match response {
        Response::Identity(id) => {
            format!("{},{},{},{};protocol={}", id.maker, id.product, id.device_id, id.version, id.protocol)
        }
        Response::Help(lines) => lines.join(" | "),
        Response::Status(status) => status_line(status),
        Response::Styles(styles) => styles.join(","),
        Response::Style { style, .. } => style.clone(),
        Response::Strength { strength } => format!("{strength:.2}"),
        Response::Mirror { mirror } => on(*mirror).into(),
        Response::Display { display_on } => on(*display_on).into(),
        Response::Model(models) => models_line(models),
        Response::Upload(UploadState { verified: Some(model), sha256, .. }) => {
            format!("VERIFIED {sha256} styles={}", model.styles.join(","))
        }
        Response::Upload(up) => format!("OFFSET {} OF {}", up.offset, up.size),
        Response::Events { events } => format!("EVENTS {}", on(*events)),
    }
}

/// `key=value` pairs, a value quoted when it has spaces.
pub fn status_line(s: &Status) -> String {
    let pairs: Vec<(&str, String)> = vec![
        ("model", s.model.clone()),
        ("style", s.style_spec.clone()),
        ("strength", format!("{:.2}", s.strength)),
        ("mirror", if s.mirror { "on" } else { "off" }.into()),
        ("display", if s.display_on { "on" } else { "off" }.into()),
        ("fps", format!("{:.1}", s.fps)),
        ("inference_ms", format!("{:.1}", s.inference_ms)),
        ("camera", s.camera_away.as_ref().map_or("ok".into(), |why| format!("away: {why}"))),
        ("presence", s.presence.clone()),
        ("person", if s.person { "yes" } else { "no" }.into()),
        ("uptime_s", format!("{:.0}", s.uptime_s)),
        ("frames", s.frames_out.to_string()),
        ("dropped", s.dropped_frames.to_string()),
        ("corrupt", s.corrupt_frames.to_string()),
        ("disconnects", s.camera_disconnects.to_string()),
    ];
    pairs.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect::<Vec<_>>().join(" ")
}

fn models_line(m: &Models) -> String {
    let previous =
        m.previous.as_ref().map_or("none".to_string(), |p| format!("{}:{}", p.origin, short(&p.sha256)));
    format!(
        "active={}:{} name={} sha256={} styles={} previous={previous}",
        m.active.origin,
        short(&m.active.sha256),
        quote(&m.active.name),
        m.active.sha256,
        m.active.styles.join(","),
    )
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn quote(v: &str) -> String {
    if !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || c == '"') {
        return v.to_string();
    }
    let escaped: String =
        v.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_case_insensitively() {
        assert_eq!(parse("*idn?").unwrap(), Request::Identify);
        assert_eq!(parse("  style   the-scream ").unwrap(), Request::SetStyle("the-scream".parse().unwrap()));
        assert_eq!(parse("STYLE a=1,b=3").unwrap(), Request::SetStyle("a=1,b=3".parse().unwrap()));
        assert_eq!(parse("display off").unwrap(), Request::SetDisplay(false));
        assert_eq!(parse("Mirror 1").unwrap(), Request::SetMirror(true));
        assert_eq!(parse("next").unwrap(), Request::StepStyle(1));
        assert_eq!(parse("ACTIVATE").unwrap(), Request::Activate(None));
        assert_eq!(
            parse("CHUNK 0 0352441c aGVsbG8=").unwrap(),
            Request::Chunk { offset: 0, crc32: 0x0352441c, data: b"hello".to_vec() }
        );
    }

    #[test]
    fn refuses_with_codes() {
        let code = |l: &str| parse(l).unwrap_err().code;
        assert_eq!(code("FLY"), 404);
        assert_eq!(code("STATUS? now"), 400);
        assert_eq!(code("STRENGTH 2"), 400);
        assert_eq!(code("STRENGTH -0.0"), 400);
        assert_eq!(code("STRENGTH NaN"), 400);
        assert_eq!(parse("STRENGTH 0").unwrap(), Request::SetStrength(0.0));
        assert_eq!(code("DISPLAY maybe"), 400);
        assert_eq!(code("UPLOAD big 00"), 400);
        assert_eq!(code("CHUNK 0 zz aGk="), 400);
        assert_eq!(code("CHUNK 0 00000000 !!"), 400);
        assert_eq!(code("STYLE a=-1"), 400);
        assert_eq!(code(""), 400);
        let long = format!("CHUNK 0 00000000 {}", "A".repeat(4 * (MAX_CHUNK / 3 + 2)));
        assert_eq!(code(&long), 413);
    }

    #[test]
    fn quotes_values_with_spaces() {
        assert_eq!(quote("ok"), "ok");
        assert_eq!(quote("away: gone \"now\""), "\"away: gone \\\"now\\\"\"");
        assert_eq!(quote(""), "\"\"");
        let err: Result<Response, _> = Err(ControlError::bad_request("two\nlines"));
        assert_eq!(reply(&err), "ERR 400 two lines");
    }
}
