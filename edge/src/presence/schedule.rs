//! Weekly opening hours (`hours = ["mon-fri 09:00-19:00", "sat 10:00-16:00"]`), in the
//! device's local time.

use std::fmt;
use std::str::FromStr;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One rule: these weekdays, from `open` to `close` (minutes after midnight; `close` may be
/// 24:00, or earlier than `open` for hours past midnight, which then belong to the next day).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    days: [bool; 7],
    open: u32,
    close: u32,
}

/// Opening hours: open when any rule says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    rules: Vec<Rule>,
    text: Vec<String>,
}

impl Schedule {
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Schedule, String> {
        let parsed = rules.iter().map(|r| r.as_ref().parse::<Rule>()).collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            return Err("opening hours: give at least one rule like \"mon-fri 09:00-19:00\"".into());
        }
        Ok(Schedule { rules: parsed, text: rules.iter().map(|r| r.as_ref().to_string()).collect() })
    }

    /// Open at `weekday` (0 = Monday) and `minute` after midnight?
    pub fn is_open_at(&self, weekday: usize, minute: u32) -> bool {
        let yesterday = (weekday + 6) % 7;
        self.rules.iter().any(|r| {
            if r.close > r.open {
                r.days[weekday] && (r.open..r.close).contains(&minute)
            } else {
                (r.days[weekday] && minute >= r.open) || (r.days[yesterday] && minute < r.close)
            }
        })
    }

    /// Open now, in the device's local time zone.
    pub fn is_open_now(&self) -> bool {
        let (weekday, minute) = local_weekday_minute();
        self.is_open_at(weekday, minute)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text.join(", "))
    }
}

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Rule, String> {
        let bad = |why: &str| format!("opening hours `{s}`: {why} (e.g. \"mon-fri 09:00-19:00\")");
        let (days_text, times) = s.trim().split_once(' ').ok_or_else(|| bad("days and hours"))?;
        let mut days = [false; 7];
        for part in days_text.split(',') {
            let day = |d: &str| {
                DAYS.iter()
                    .position(|&x| x == d.trim().to_ascii_lowercase())
                    .ok_or_else(|| bad("unknown day"))
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days[day(part)?] = true,
            }
        }
        let (open, close) = times.trim().split_once('-').ok_or_else(|| bad("hours as HH:MM-HH:MM"))?;
        let minute = |t: &str| -> Result<u32, String> {
            let (h, m) = t.trim().split_once(':').ok_or_else(|| bad("hours as HH:MM-HH:MM"))?;
            let (h, m): (u32, u32) =
                (h.parse().map_err(|_| bad("bad hour"))?, m.parse().map_err(|_| bad("bad minute"))?);
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(bad("no such time"));
            }
            Ok(h * 60 + m)
        };
        let (open, close) = (minute(open)?, minute(close)?);
        if open == close || open == 24 * 60 {
            return Err(bad("opening and closing at the same time"));
        }
        Ok(Rule { days, open, close })
    }
}

/// (weekday with Monday = 0, minutes after midnight) now, in the local zone. `localtime_r`
/// reads the system's own zone rules (/etc/localtime, TZ), as cron does; libc is linked already.
fn local_weekday_minute() -> (usize, u32) {
    // SAFETY: `time` with a null pointer only returns the time; `localtime_r` writes into the
    // zeroed `tm` we own and is thread-safe.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    (((tm.tm_wday + 6) % 7) as usize, (tm.tm_hour * 60 + tm.tm_min) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_hours_and_overnight() {
        let s = Schedule::parse(&["mon-fri 09:00-19:00", "sat 10:00-16:00", "fri 22:00-02:00"]).unwrap();
        let h = |hh: u32, mm: u32| hh * 60 + mm;
        assert!(s.is_open_at(0, h(9, 0)) && s.is_open_at(4, h(18, 59)));
        assert!(!s.is_open_at(0, h(8, 59)) && !s.is_open_at(2, h(19, 0)));
        assert!(s.is_open_at(5, h(12, 0)) && !s.is_open_at(6, h(12, 0)));
        // Friday night runs into Saturday morning.
        assert!(s.is_open_at(4, h(23, 0)) && s.is_open_at(5, h(1, 59)) && !s.is_open_at(5, h(2, 0)));
        assert!(!s.is_open_at(3, h(23, 0)));
        // Wrapping day ranges and 24:00.
        let w = Schedule::parse(&["sat-mon 00:00-24:00"]).unwrap();
        assert!(w.is_open_at(6, 0) && w.is_open_at(0, h(23, 59)) && !w.is_open_at(1, h(12, 0)));
        assert_eq!(w.to_string(), "sat-mon 00:00-24:00");
    }

    #[test]
    fn bad_rules_are_named() {
        for bad in ["mon-fri", "funday 09:00-10:00", "mon 9-10", "mon 25:00-26:00", "mon 10:00-10:00"] {
            let err = Schedule::parse(&[bad]).unwrap_err();
            assert!(err.contains(bad) && err.contains("mon-fri 09:00-19:00"), "{err}");
        }
        assert!(Schedule::parse::<&str>(&[]).is_err());
        let _ = Schedule::parse(&["mon 00:00-01:00"]).unwrap().is_open_now();
    }
}
