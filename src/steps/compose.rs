//! `--render-dir` of a `--compose` dry run: every object that would be applied, one
//! YAML file per object, and `plan.md` saying per service what became of it. Written
//! without following symlinks; nothing touches the cluster.

use std::path::Path;

use crate::error::Error;
use crate::fsx;
use crate::inputs::InputError;
use crate::inputs::compose::ComposeApp;
use crate::plan::compose;
use crate::plan::deploy::DeployPlan;

use super::Ctx;

pub fn render(ctx: &Ctx, plan: &DeployPlan, app: &ComposeApp, dir: &Path) -> Result<(), Error> {
    let io = |e: std::io::Error| {
        Error::Input(InputError::File {
            what: "render directory",
            path: dir.to_path_buf(),
            source: e,
        })
    };
    if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(io(std::io::Error::other(
            "it exists and is not a directory",
        )));
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut names = Vec::new();
    for (i, o) in plan.objects.iter().enumerate() {
        let name = compose::file_name(i, o);
        let yaml = serde_norway::to_string(o).map_err(|e| io(std::io::Error::other(e)))?;
        fsx::write(&dir.join(&name), "rendered object", yaml.as_bytes(), 0o644)
            .map_err(InputError::Fs)?;
        names.push(name);
    }
    let md = compose::plan_markdown(app, &names);
    fsx::write(&dir.join("plan.md"), "plan.md", md.as_bytes(), 0o644).map_err(InputError::Fs)?;
    ctx.host.info(&format!(
        "wrote {} objects and plan.md to {}",
        names.len(),
        dir.display()
    ));
    Ok(())
}
