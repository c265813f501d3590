//! The build step's job summary: one image as a table of its facts, several (`--compose`)
//! as one row per service.

/// One built image.
#[derive(Clone, Debug)]
pub struct Row {
    /// With `--compose`: the service it was built for.
    pub service: Option<String>,
    pub image: String,
    /// `registry/repo@sha256:…` when pushed.
    pub digest: Option<String>,
    pub tags: Vec<String>,
    pub size: u64,
    pub builder: &'static str,
    pub time: String,
}

fn tags(r: &Row) -> String {
    r.tags
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn digest(r: &Row) -> &str {
    r.digest.as_deref().unwrap_or("(not pushed)")
}

pub fn markdown(pushed: bool, rows: &[Row]) -> String {
    let title = if pushed {
        "Image built and pushed"
    } else {
        "Image built"
    };
    match rows {
        [r] if r.service.is_none() => format!(
            "### {title}\n\n| | |\n|---|---|\n| image | `{}` |\n| digest | `{}` |\n| tags | {} |\n| size | {} MB |\n| builder | {} |\n| time | {} |\n",
            r.image,
            digest(r),
            tags(r),
            r.size / 1_000_000,
            r.builder,
            r.time
        ),
        _ => {
            let mut md = format!(
                "### {} ({})\n\n| service | image | digest | tags | size | builder | time |\n|---|---|---|---|---:|---|---|\n",
                title.replacen("Image", "Images", 1),
                rows.len()
            );
            for r in rows {
                md.push_str(&format!(
                    "| {} | `{}` | `{}` | {} | {} MB | {} | {} |\n",
                    r.service.as_deref().unwrap_or(""),
                    r.image,
                    digest(r),
                    tags(r),
                    r.size / 1_000_000,
                    r.builder,
                    r.time
                ));
            }
            md
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(service: Option<&str>, name: &str) -> Row {
        Row {
            service: service.map(String::from),
            image: format!("r.io/shop/{name}"),
            digest: Some(format!("r.io/shop/{name}@sha256:ab")),
            tags: vec!["pr-7".into(), "sha-0123456".into()],
            size: 12_000_000,
            builder: "BuildKit",
            time: "sign-in 0.10 s, engine build 1.00 s, push and verify 0.50 s".into(),
        }
    }

    #[test]
    fn one_image_is_a_table_of_facts() {
        insta::assert_snapshot!(markdown(true, &[row(None, "api")]));
    }

    #[test]
    fn compose_images_are_one_row_per_service() {
        insta::assert_snapshot!(markdown(
            true,
            &[row(Some("web"), "web"), row(Some("api"), "api")]
        ));
    }
}
