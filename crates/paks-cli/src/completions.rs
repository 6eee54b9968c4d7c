//! `paks completions SHELL` and `paks man`: both generated from the clap definitions, so
//! they follow every command, including ones added later, with nothing to keep in step.

use std::io::Write;

use clap::CommandFactory;

use crate::Failure;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::commands::{Ctx, out, plural};

pub fn completions(args: &CompletionsArgs) -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut command, "paks", &mut buf);
    out().write_all(&buf)?;
    Ok(())
}

pub fn man(ctx: &Ctx, args: &ManArgs) -> Result<(), Failure> {
    let command = Cli::command();
    let Some(dir) = &args.out else {
        let mut buf = Vec::new();
        clap_mangen::Man::new(command).render(&mut buf)?;
        out().write_all(&buf)?;
        return Ok(());
    };
    fs_err::create_dir_all(dir)?;
    let mut pages = Vec::new();
    collect_pages(command, &["paks"], &mut pages);
    for (name, page) in &pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(page.clone()).render(&mut buf)?;
        paks_types::fs::write_atomic(&dir.join(format!("{name}.1")), &buf)?;
    }
    ctx.reporter.status(&format!(
        "Wrote {} man page{} to `{}`",
        pages.len(),
        plural(pages.len()),
        dir.display()
    ));
    Ok(())
}

/// One page per command and subcommand, named as git names its pages (`paks-repo-add`),
/// with the usage line as typed (`paks repo add`).
fn collect_pages(command: clap::Command, path: &[&str], pages: &mut Vec<(String, clap::Command)>) {
    let name = path.join("-");
    let command = command.name(name.clone()).bin_name(path.join(" "));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name());
        collect_pages(sub.clone(), &sub_path, pages);
    }
    pages.push((name, command));
}
