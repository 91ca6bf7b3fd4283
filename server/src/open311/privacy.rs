//! What Open311 may show of a ticket: never the resident's name or phone number, a location at building level.
//! Structured fields are simply not written (the reporter, the unit, the household, coordinates); free text (the
//! resident's description, public notes) is masked: runs of seven or more digits (phone numbers, ID numbers),
//! e-mail addresses, and the reporter's name and phone as given.

use linli_sync_core::ticket::Reporter;

/// `text` with personal data masked.
pub fn mask(text: &str, reporter: &Reporter) -> String {
    let mut out = text.to_string();
    for known in [reporter.name.as_deref(), reporter.phone.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| s.chars().count() >= 2)
    {
        out = out.replace(known, "**");
    }
    mask_emails(&mask_digit_runs(&out))
}

/// Runs of 7+ digits, counting spaces and dashes inside the run (`138 1234 5678`, `010-12345678`), become `***`.
fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit()
            || chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            let start = i;
            let mut end = i + 1;
            let mut digits = usize::from(chars[i].is_ascii_digit());
            let mut last_digit = i;
            while end < chars.len() {
                let c = chars[end];
                if c.is_ascii_digit() {
                    digits += 1;
                    last_digit = end;
                } else if !(c == ' ' || c == '-') {
                    break;
                }
                end += 1;
            }
            if digits >= 7 {
                out.push_str("***");
                i = last_digit + 1;
            } else {
                out.extend(&chars[start..=last_digit]);
                i = last_digit + 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// E-mail addresses (`local@domain.tld`, ASCII) become `***`.
fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut a = i;
            while a > copied && local(chars[a - 1]) {
                a -= 1;
            }
            let mut b = i + 1;
            while b < chars.len() && domain(chars[b]) {
                b += 1;
            }
            let host: String = chars[i + 1..b].iter().collect();
            let host = host.trim_end_matches('.');
            if a < i && host.contains('.') && !host.starts_with('.') {
                out.extend(&chars[copied..a]);
                out.push_str("***");
                copied = i + 1 + host.chars().count();
                i = copied;
                continue;
            }
        }
        i += 1;
    }
    out.extend(&chars[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_names_and_emails_are_masked() {
        let reporter = Reporter {
            name: Some("王秀英".into()),
            phone: Some("13812345678".into()),
            household: None,
        };
        let text = "王秀英说楼上漏水，电话 138 1234 5678 或 010-87654321，邮箱 wang@example.cn，3号楼2单元";
        let masked = mask(text, &reporter);
        assert_eq!(
            masked,
            "**说楼上漏水，电话 *** 或 ***，邮箱 ***，3号楼2单元"
        );
        assert_eq!(
            mask("call +8613812345678 now", &Reporter::default()),
            "call *** now"
        );
        assert_eq!(
            mask("房间 1203，2 人", &Reporter::default()),
            "房间 1203，2 人"
        );
    }
}
