//! `--help` that teaches: every command's help comes out whole, without the empty
//! `[env: NAME=]` clap prints for an environment variable that is not set.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(args)
        .arg("--help")
        .env_remove("IMAGEDESK_DATA_DIR")
        .env_remove("IMAGEDESK_API")
        .env_remove("IMAGEDESK_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help: {:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `imagedesk --help` lists.
fn commands(top: &str) -> Vec<String> {
    top.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_commands_help_names_its_environment_variables_without_empty_values() {
    let top = help(&[]);
    let commands = commands(&top);
    assert!(
        commands.iter().any(|c| c == "serve") && commands.iter().any(|c| c == "sync"),
        "{commands:?}"
    );
    assert!(top.contains("[env: IMAGEDESK_DATA_DIR]"), "{top}");
    for text in std::iter::once(top.clone()).chain(commands.iter().map(|c| help(&[c]))) {
        assert!(
            !text.contains("=]"),
            "an unset variable is shown with an empty value:\n{text}"
        );
    }
}
