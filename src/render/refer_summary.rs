//! The refer step's summary: one table of what was found, and what was not with the
//! lookup that failed. Pure.

use super::markdown::{code, text};

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub what: &'static str,
    /// `None`: not found.
    pub name: Option<String>,
    /// Facts found (login server, IP, ...) or, when not found, why.
    pub detail: String,
    /// How it was looked up.
    pub lookup: String,
}

pub fn render(resource_group: &str, sign_in: &str, rows: &[Row], notes: &[String]) -> String {
    let found = rows.iter().filter(|r| r.name.is_some()).count();
    let mut out = format!(
        "### Shared infrastructure in {}\n\n{found} of {} found (signed in with {}).\n\n| | Part | Name | Details | Lookup |\n|---|---|---|---|---|\n",
        code(resource_group),
        rows.len(),
        text(sign_in)
    );
    for r in rows {
        let (mark, name) = match &r.name {
            Some(n) => ("✅", code(n)),
            None => ("❌", "not found".to_string()),
        };
        out.push_str(&format!(
            "| {mark} | {} | {name} | {} | {} |\n",
            r.what,
            text(&r.detail),
            text(&r.lookup)
        ));
    }
    for n in notes {
        out.push_str(&format!("\n{}\n", text(n)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_found_and_missing() {
        let md = render(
            "rg-shared",
            "github-oidc",
            &[
                Row {
                    what: "Container registry",
                    name: Some("acr1".into()),
                    detail: "acr1.azurecr.io".into(),
                    lookup: "by type".into(),
                },
                Row {
                    what: "DNS zone",
                    name: None,
                    detail: "no DNS zone in resource group rg-shared".into(),
                    lookup: "by tags app=shop".into(),
                },
            ],
            &[],
        );
        insta::assert_snapshot!(md);
    }
}
