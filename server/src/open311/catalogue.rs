//! The services of GeoReport v2: ticket categories. A ticket's `category` is a free code on the wire (phones may
//! use any); the catalogue names the codes a cooperative receives most, in Chinese and English, with the request
//! type and complexity a new ticket of that service gets. Every category a community configured (in a linked
//! body's list or a routing rule) that the catalogue does not name is listed too, under the group `other`, so a city system can file into any
//! category the community works with (`docs/open311.md`, "Category mapping").

use linli_sync_core::state::State;
use linli_sync_core::ticket::{Complexity, RequestType};
use std::collections::BTreeSet;

/// One service as offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The ticket category.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Chinese description.
    pub description_zh: String,
    /// English description.
    pub description_en: String,
    /// The group (`repairs`, `environment`, `safety`, `neighbours`, `care`, `other`).
    pub group: &'static str,
    /// Search words, both languages.
    pub keywords: Vec<String>,
    /// The kind of request a new ticket of this service is.
    pub request_type: RequestType,
    /// Whether a new ticket of this service starts as a complex problem (a plan within 2 days).
    pub complexity: Complexity,
}

impl Service {
    /// The name in `lang` (`zh` or `en`).
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.name_zh,
            Lang::En => &self.name_en,
        }
    }

    /// The description in `lang`.
    pub fn description(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.description_zh,
            Lang::En => &self.description_en,
        }
    }
}

/// The language of names and descriptions: Chinese unless the client asks for English (`Accept-Language: en…`
/// or `?locale=en`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文.
    Zh,
    /// English.
    En,
}

type Entry = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    RequestType,
    Complexity,
);

/// code, zh name, en name, zh description, en description, group, keywords, request type, complexity.
const BUILT_IN: &[Entry] = &[
    (
        "water_leak",
        "漏水",
        "Water leak",
        "管道、屋顶或楼上渗漏",
        "A leaking pipe, roof or flat above",
        "repairs",
        "漏水 渗水 水管 leak water pipe",
        RequestType::Help,
        Complexity::Small,
    ),
    (
        "downpipe",
        "雨水管",
        "Downpipe",
        "雨水管破损或堵塞",
        "A broken or blocked downpipe",
        "repairs",
        "雨水管 堵塞 downpipe gutter",
        RequestType::Help,
        Complexity::Small,
    ),
    (
        "repair",
        "公共设施报修",
        "Repair of a shared facility",
        "楼道灯、门禁、扶手等公共设施损坏",
        "A broken stairway light, entry door, handrail or other shared facility",
        "repairs",
        "报修 灯 门禁 repair light door",
        RequestType::Help,
        Complexity::Small,
    ),
    (
        "elevator",
        "电梯故障",
        "Lift out of order",
        "电梯停运或困人",
        "A lift is out of order or someone is trapped",
        "repairs",
        "电梯 困人 lift elevator",
        RequestType::Report,
        Complexity::Complex,
    ),
    (
        "sanitation",
        "环境卫生",
        "Rubbish and cleanliness",
        "垃圾堆放、楼道杂物、环境脏乱",
        "Dumped rubbish, clutter in a stairway, a dirty area",
        "environment",
        "垃圾 卫生 杂物 rubbish litter clutter",
        RequestType::Complaint,
        Complexity::Small,
    ),
    (
        "noise",
        "噪音扰民",
        "Noise",
        "装修、商铺或邻里噪音",
        "Noise from renovation, a shop or neighbours",
        "neighbours",
        "噪音 扰民 noise",
        RequestType::Complaint,
        Complexity::Small,
    ),
    (
        "parking",
        "停车秩序",
        "Parking",
        "乱停车、占用消防通道",
        "Bad parking, a blocked fire lane",
        "safety",
        "停车 消防通道 parking fire lane",
        RequestType::Complaint,
        Complexity::Small,
    ),
    (
        "hazard",
        "安全隐患",
        "Safety hazard",
        "电动车楼道充电、消防设施损坏、高空坠物风险",
        "E-bikes charged in a stairway, broken fire equipment, a risk of falling objects",
        "safety",
        "隐患 消防 充电 hazard fire",
        RequestType::Report,
        Complexity::Small,
    ),
    (
        "illegal_building",
        "违章搭建",
        "Illegal construction",
        "私搭乱建、占用公共空间",
        "An illegal structure or a shared space taken over",
        "safety",
        "违建 搭建 illegal construction",
        RequestType::Report,
        Complexity::Complex,
    ),
    (
        "dispute",
        "邻里纠纷",
        "Neighbour dispute",
        "需要调解的邻里矛盾（纠纷调处）",
        "A dispute between neighbours that needs mediation",
        "neighbours",
        "纠纷 调解 dispute mediation",
        RequestType::Help,
        Complexity::Complex,
    ),
    (
        "help",
        "生活求助",
        "Help at home",
        "独居老人等需要上门帮助",
        "Someone, often an elderly person living alone, needs help at home",
        "care",
        "求助 老人 help elderly",
        RequestType::Help,
        Complexity::Small,
    ),
    (
        "greenery",
        "绿化养护",
        "Trees and greenery",
        "树木倒伏、绿地损坏",
        "A fallen tree or damaged green space",
        "environment",
        "绿化 树木 tree greenery",
        RequestType::Report,
        Complexity::Small,
    ),
    (
        "suggestion",
        "意见建议",
        "Suggestion",
        "对社区服务的意见和建议",
        "A suggestion about the community's services",
        "other",
        "建议 意见 suggestion",
        RequestType::Suggestion,
        Complexity::Small,
    ),
];

fn built_in(e: &Entry) -> Service {
    let (
        code,
        name_zh,
        name_en,
        description_zh,
        description_en,
        group,
        keywords,
        request_type,
        complexity,
    ) = *e;
    Service {
        code: code.into(),
        name_zh: name_zh.into(),
        name_en: name_en.into(),
        description_zh: description_zh.into(),
        description_en: description_en.into(),
        group,
        keywords: keywords.split(' ').map(String::from).collect(),
        request_type,
        complexity,
    }
}

/// The services of a community: the built-in ones, then every other category its tickets use, by code.
pub fn services(state: &State) -> Vec<Service> {
    let mut out: Vec<Service> = BUILT_IN.iter().map(built_in).collect();
    let known: BTreeSet<String> = out.iter().map(|s| s.code.clone()).collect();
    // The categories the community configured: its linked bodies' and its routing rules'. Not every category its
    // tickets carry: those raised from a door-knock visit's health flag (`health_*`) are the micro-butlers' own.
    let of_bodies = state
        .agencies()
        .values()
        .flat_map(|a| a.categories.val.clone().unwrap_or_default());
    let routed = state
        .routes()
        .values()
        .filter_map(|r| r.live().map(|(rule, _)| rule.category.clone()));
    let used: BTreeSet<String> = of_bodies
        .chain(routed)
        .filter(|c| valid_code(c) && !c.starts_with("health_") && !known.contains(c))
        .collect();
    out.extend(used.into_iter().map(|code| Service {
        name_zh: code.clone(),
        name_en: code.clone(),
        description_zh: format!("本社区使用的类别 {code}"),
        description_en: format!("A category this community uses: {code}"),
        group: "other",
        keywords: Vec::new(),
        request_type: RequestType::Help,
        complexity: Complexity::Small,
        code,
    }));
    out
}

/// The service of `code`, if the community offers it.
pub fn service(state: &State, code: &str) -> Option<Service> {
    services(state).into_iter().find(|s| s.code == code)
}

/// A category code that can be a `service_code`: 1 to 64 of `a-z`, `0-9` and `_`.
pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_codes_are_unique_and_valid() {
        let codes: Vec<&str> = BUILT_IN.iter().map(|e| e.0).collect();
        let unique: BTreeSet<&str> = codes.iter().copied().collect();
        assert_eq!(unique.len(), codes.len());
        assert!(codes.iter().all(|c| valid_code(c)), "{codes:?}");
    }
}
