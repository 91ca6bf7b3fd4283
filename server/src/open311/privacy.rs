//! What Open311 may show of a ticket: never the resident's name or phone number, a location at building level.
//! Only tickets filed over Open311 are shown at all (a ticket raised on a phone or at the desk is staff's record).
//! Structured fields are simply not written (the reporter, the unit, the household, coordinates); free text (the
//! resident's description, public notes) is masked: the reporter's name (whole, each part, the given name alone,
//! the family name with a form of address such as 王女士) and phone as given, the household register's contact
//! names (whole, and the family name with a form of address), runs of seven or more digits (phone numbers, ID
//! numbers), room numbers (`501室`, `3-2-501`, `2单元501`, `房间 1203`) and e-mail addresses. Latin name parts
//! are matched as whole words only (`Li` is masked, `Lift` is not).

use aho_corasick::{AhoCorasick, MatchKind};
use linli_sync_core::state::State;
use linli_sync_core::ticket::Reporter;

/// Forms of address that follow a family name (王女士, 李大爷).
const ADDRESS_FORMS: &[&str] = &[
    "女士", "先生", "小姐", "阿姨", "大爷", "大妈", "奶奶", "爷爷", "老师", "师傅", "大姐", "大哥",
    "老人",
];

/// The contact names of a community's household register.
pub fn register_names(state: &State) -> Vec<String> {
    let mut names: Vec<String> = state
        .grids()
        .values()
        .flat_map(|g| {
            g.household_details
                .values()
                .filter_map(|d| d.val.as_ref().and_then(|h| h.contact_name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The texts a person's name may appear as: the whole name, its parts, a CJK family name with a form of address,
/// and — with `given` — a CJK given name alone (秀英 of 王秀英). Only the reporter's given name is masked alone: a
/// register of thousands of names would mask place names (建国 of 王建国 in 建国路).
fn name_forms(name: &str, given: bool) -> Vec<String> {
    let name = name.trim();
    let mut forms = vec![name.to_string()];
    forms.extend(name.split_whitespace().map(str::to_string));
    let chars: Vec<char> = name.chars().filter(|c| !c.is_whitespace()).collect();
    let cjk = !chars.is_empty() && chars.iter().all(|c| !c.is_ascii());
    if cjk && (2..=4).contains(&chars.len()) {
        forms.push(chars.iter().collect());
        if given && chars.len() >= 3 {
            forms.push(chars[1..].iter().collect());
        }
        let family = chars[0];
        forms.extend(ADDRESS_FORMS.iter().map(|f| format!("{family}{f}")));
    }
    forms.retain(|f| f.chars().count() >= 2);
    forms.sort();
    forms.dedup();
    forms
}

/// Masks the personal data of free text. Built once per answer: the register's names go into one automaton, so
/// a text costs one pass however many households the register holds.
#[derive(Debug)]
pub struct Masker {
    register: Option<AhoCorasick>,
}

impl Masker {
    /// A masker for a community whose household register holds `names`.
    pub fn new(names: &[String]) -> Masker {
        let forms: Vec<String> = names.iter().flat_map(|n| name_forms(n, false)).collect();
        let register = (!forms.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&forms)
                    .ok()
            })
            .flatten();
        Masker { register }
    }

    /// `text` with personal data masked: of `reporter`, and of the household register.
    pub fn mask(&self, text: &str, reporter: &Reporter) -> String {
        let mut forms: Vec<String> = reporter
            .name
            .iter()
            .flat_map(|n| name_forms(n, true))
            .collect();
        forms.extend(
            reporter
                .phone
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| p.chars().count() >= 2),
        );
        // Longest first, so that a whole name is masked before its parts.
        forms.sort_by_key(|f| std::cmp::Reverse(f.chars().count()));
        let mut out = text.to_string();
        for f in &forms {
            out = replace_words(&out, f);
        }
        if let Some(ac) = &self.register {
            let mut masked = String::with_capacity(out.len());
            ac.replace_all_with(&out, &mut masked, |m, found, dst| {
                if whole_word(&out, m.start(), m.end(), found) {
                    dst.push_str("**");
                } else {
                    dst.push_str(found);
                }
                true
            });
            out = masked;
        }
        mask_emails(&mask_rooms(&mask_digit_runs(&out)))
    }
}

/// A match of an ASCII form must stand as a word (no ASCII letter or digit on either side); a CJK form is a
/// match anywhere (CJK text has no spaces).
fn whole_word(text: &str, start: usize, end: usize, found: &str) -> bool {
    if !found.is_ascii() {
        return true;
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !alnum(text[..start].chars().next_back()) && !alnum(text[end..].chars().next())
}

/// `text` with every whole-word occurrence of `form` replaced by `**`.
fn replace_words(text: &str, form: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, found) in text.match_indices(form) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        if whole_word(text, at, at + found.len(), found) {
            out.push_str("**");
        } else {
            out.push_str(found);
        }
        rest = at + found.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// `text` with personal data masked, for one text (tests, and callers without a [`Masker`]).
pub fn mask(text: &str, reporter: &Reporter, register: &[String]) -> String {
    Masker::new(register).mask(text, reporter)
}

/// Room numbers: digits followed by 室 or 房 (`501室` → `**室`), digits after 单元, 房间, 房号 or `room`
/// (`2单元501`, `房间 1203`, `Room 1203` → `**`), and three or more digit groups joined by dashes (`3-2-501`,
/// building-unit-room, → `***`). A building and a unit (`3号楼2单元`) stay: they are the location Open311 gives.
fn mask_rooms(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut end = i;
            let mut groups = 1;
            while end < chars.len() {
                if chars[end].is_ascii_digit() {
                    end += 1;
                } else if chars[end] == '-' && chars.get(end + 1).is_some_and(char::is_ascii_digit)
                {
                    groups += 1;
                    end += 1;
                } else {
                    break;
                }
            }
            let before_room = matches!(chars.get(end), Some('室' | '房'));
            let before: String = chars[..i]
                .iter()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let lead = before.trim_end().to_lowercase();
            let after_room_word = ["单元", "房间", "房号", "room"]
                .iter()
                .any(|w| lead.ends_with(w));
            if groups >= 3 {
                out.push_str("***");
            } else if before_room || after_room_word {
                out.push_str("**");
            } else {
                out.extend(&chars[i..end]);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
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
    fn phone_numbers_names_rooms_and_emails_are_masked() {
        let reporter = Reporter {
            name: Some("王秀英".into()),
            phone: Some("13812345678".into()),
            household: None,
        };
        let none: &[String] = &[];
        let text = "王秀英说楼上漏水，电话 138 1234 5678 或 010-87654321，邮箱 wang@example.cn，3号楼2单元";
        assert_eq!(
            mask(text, &reporter, none),
            "**说楼上漏水，电话 *** 或 ***，邮箱 ***，3号楼2单元"
        );
        // The given name alone, the family name with a form of address, rooms in either form.
        assert_eq!(
            mask("请联系秀英或王女士，501室，3-2-501", &reporter, none),
            "请联系**或**，**室，***"
        );
        assert_eq!(
            mask("call +8613812345678 now", &Reporter::default(), none),
            "call *** now"
        );
        assert_eq!(
            mask("3号楼2单元501漏水，房间 1203，Room 88", &reporter, none),
            "3号楼2单元**漏水，房间 **，Room **"
        );
        // A building and a unit stay: they are the location Open311 gives.
        assert_eq!(
            mask("3号楼2单元，2 人", &Reporter::default(), none),
            "3号楼2单元，2 人"
        );
    }

    #[test]
    fn latin_names_and_the_register_are_masked_as_words_and_place_names_stay() {
        let reporter = Reporter {
            name: Some("Li Lei".into()),
            phone: None,
            household: None,
        };
        let register = vec![
            "李建国".to_string(),
            "刘和平".to_string(),
            "Jane Doe".to_string(),
        ];
        assert_eq!(
            mask(
                "Li Lei says Li's Lift; 李建国和李大爷 near 建国路 in 和平里社区; Jane Doe",
                &reporter,
                &register
            ),
            "** says **'s Lift; **和** near 建国路 in 和平里社区; **"
        );
    }
}
