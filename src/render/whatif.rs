//! ARM what-if, for people: plain log lines (one per resource, a Modify's deltas under
//! it), and a Markdown section for the job summary and the PR comment, so a reviewer
//! sees the infrastructure changes before merge. Values come from Azure: control
//! characters are stripped and Markdown is escaped. Pure; snapshot-tested.

use super::markdown::{code, shorten, text};
use crate::model::text::strip_controls;
use crate::model::whatif::{Change, ChangeKind, counts};

/// Longest value shown for a delta (a template fragment can be large).
const VALUE_MAX: usize = 120;

fn symbol(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Create => "+",
        ChangeKind::Modify => "~",
        ChangeKind::Delete => "-",
        ChangeKind::Deploy => "!",
        ChangeKind::NoChange => "=",
        ChangeKind::Ignore => "*",
        ChangeKind::Unsupported => "x",
    }
}

/// `3 to create, 1 to modify, 12 unchanged`.
pub fn headline(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no resources".into();
    }
    counts(changes)
        .into_iter()
        .map(|(k, n)| match k {
            ChangeKind::Create => format!("{n} to create"),
            ChangeKind::Modify => format!("{n} to modify"),
            ChangeKind::Delete => format!("{n} to delete"),
            ChangeKind::Deploy => format!("{n} to deploy (details unknown)"),
            ChangeKind::NoChange => format!("{n} unchanged"),
            ChangeKind::Ignore => format!("{n} ignored"),
            ChangeKind::Unsupported => format!("{n} unsupported"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn value(v: &Option<String>) -> String {
    match v {
        Some(v) => shorten(&strip_controls(v), VALUE_MAX),
        None => "(none)".into(),
    }
}

/// The log: `+ Microsoft.Network/virtualNetworks/shop-vnet`, deltas indented.
pub fn log_lines(changes: &[Change]) -> Vec<String> {
    let mut out = vec![format!("what-if: {}", headline(changes))];
    for c in changes {
        out.push(format!(
            "{} {} {}",
            symbol(c.kind),
            c.kind.name(),
            strip_controls(c.short_name())
        ));
        for d in &c.deltas {
            out.push(format!(
                "    {} {}: {} => {}",
                strip_controls(&d.kind),
                strip_controls(&d.path),
                value(&d.before),
                value(&d.after)
            ));
        }
        if let Some(r) = &c.reason {
            out.push(format!("    {}", strip_controls(r)));
        }
    }
    out
}

/// The Markdown section: a headline, then a table of the resources that change (those
/// that do not are counted, not listed) with a Modify's deltas in the same row.
pub fn markdown(deployment: &str, resource_group: &str, changes: &[Change]) -> String {
    let mut out = format!(
        "### Infrastructure what-if: {} in {}\n\n{}.\n",
        code(deployment),
        code(resource_group),
        text(&headline(changes))
    );
    let shown: Vec<&Change> = changes
        .iter()
        .filter(|c| !matches!(c.kind, ChangeKind::NoChange | ChangeKind::Ignore))
        .collect();
    if shown.is_empty() {
        out.push_str("\nNothing changes.\n");
        return out;
    }
    out.push_str("\n| | Change | Resource | Properties |\n|---|---|---|---|\n");
    for c in shown {
        let props: Vec<String> = c
            .deltas
            .iter()
            .map(|d| {
                format!(
                    "{} {}: {} → {}",
                    text(&d.kind),
                    code(&d.path),
                    code(&value(&d.before)),
                    code(&value(&d.after))
                )
            })
            .chain(c.reason.iter().map(|r| text(r)))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            code(symbol(c.kind)),
            c.kind.name(),
            code(c.short_name()),
            props.join("<br>")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::whatif::Delta;

    fn change(id: &str, kind: ChangeKind, deltas: Vec<Delta>) -> Change {
        Change {
            resource_id: format!("/subscriptions/s/resourceGroups/rg/providers/{id}"),
            kind,
            deltas,
            reason: None,
        }
    }

    fn sample() -> Vec<Change> {
        vec![
            change(
                "Microsoft.Network/virtualNetworks/shop-vnet",
                ChangeKind::Create,
                vec![],
            ),
            change(
                "Microsoft.ContainerService/managedClusters/shop-aks",
                ChangeKind::Modify,
                vec![Delta {
                    path: "properties.agentPoolProfiles[0].count".into(),
                    kind: "Modify".into(),
                    before: Some("2".into()),
                    after: Some("3".into()),
                }],
            ),
            change(
                "Microsoft.KeyVault/vaults/shop-kv",
                ChangeKind::NoChange,
                vec![],
            ),
            change(
                "Microsoft.Network/dnsZones/old|zone\u{1b}[31m",
                ChangeKind::Delete,
                vec![],
            ),
            change("Microsoft.Web/sites/other", ChangeKind::Ignore, vec![]),
        ]
    }

    #[test]
    fn the_log_has_one_line_per_resource_and_the_deltas_of_a_modify() {
        insta::assert_snapshot!("whatif_log", log_lines(&sample()).join("\n"));
    }

    #[test]
    fn the_summary_lists_what_changes_and_counts_the_rest() {
        let md = markdown("aks-backend-infra", "rg-shared", &sample());
        assert!(!md.contains('\u{1b}'));
        insta::assert_snapshot!("whatif_markdown", md);
    }

    #[test]
    fn nothing_to_change_says_so() {
        let all_same = vec![change(
            "Microsoft.KeyVault/vaults/shop-kv",
            ChangeKind::NoChange,
            vec![],
        )];
        let md = markdown("d", "rg", &all_same);
        assert!(
            md.contains("1 unchanged.") && md.contains("Nothing changes."),
            "{md}"
        );
    }
}
