//! Lease `MicroTime` fields: the decode-time check the real server answers with 400, and the
//! conversion of an offset to UTC.

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::resources::ResourceType;

/// Checks and normalises the `MicroTime` fields of a Lease (`spec.acquireTime`,
/// `spec.renewTime`): exactly six fractional digits are required (else the real server's 400
/// decode error); a numeric offset is converted to UTC `Z`.
pub fn normalize_micro_times(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if rt.plural != "leases" {
        return Ok(());
    }
    for field in ["acquireTime", "renewTime"] {
        let Some(raw) = obj["spec"][field].as_str().map(str::to_string) else {
            continue;
        };
        match parse_micro_time(&raw) {
            Ok(normalised) => obj["spec"][field] = json!(normalised),
            Err(detail) => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: parsing time \"{raw}\" as \"2006-01-02T15:04:05.000000Z07:00\": {detail}",
                    kind = rt.kind,
                    v = rt.version
                )));
            }
        }
    }
    Ok(())
}

/// Parses a `MicroTime` (`YYYY-MM-DDTHH:MM:SS.ffffff` + `Z` or `±HH:MM`) and renders it in UTC;
/// `Err` is Go's `cannot parse …` detail.
pub(super) fn parse_micro_time(raw: &str) -> Result<String, String> {
    let cannot = |rest: &str, elem: &str| format!("cannot parse \"{rest}\" as \"{elem}\"");
    if raw.len() < 19 || !raw.is_char_boundary(19) {
        return Err(cannot(raw, "2006"));
    }
    let (head, rest) = raw.split_at(19);
    let Some(frac_and_zone) = rest.strip_prefix('.') else {
        return Err(cannot(rest, ".000000"));
    };
    let digits = frac_and_zone.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 6 {
        return Err(cannot(rest, ".000000"));
    }
    let zone = &frac_and_zone[6..];
    if digits > 6 || !(zone == "Z" || zone.starts_with('+') || zone.starts_with('-')) {
        return Err(cannot(zone, "Z07:00"));
    }
    let frac = &frac_and_zone[..6];
    let full = format!("{head}.{frac}{zone}");
    let ts: jiff::Timestamp = full
        .parse()
        .map_err(|_| cannot(raw, "2006-01-02T15:04:05"))?;
    let secs = jiff::Timestamp::from_second(ts.as_second()).map_err(|e| e.to_string())?;
    let base = secs.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    Ok(format!("{base}.{frac}Z"))
}
