//! The `expenseplus` binary: parses the command line and reports failures as one
//! plain sentence on stderr with exit status 1.

use std::process::ExitCode;

use clap::error::ErrorKind;
use expenseplus::cli;
use expenseplus::config::Cli;

/// mimalloc instead of the system allocator: a page allocates thousands of small
/// strings and rows, and glibc's malloc took a sixth of the server's time on the
/// claims list (README, "Benchmarks"). Its secure mode measured no faster than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// "the data dir is missing" -> "The data dir is missing."
fn sentence(message: &str) -> String {
    let message = message
        .trim()
        .trim_start_matches("error: ")
        .trim_end_matches('.');
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "Something went wrong.".to_owned(),
    }
}

/// clap's error in one line: its first paragraph, with any names it lists below the first
/// line ("required arguments were not provided:" then "  --org <ORG>") joined onto it.
fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap printed the help text; its usage line says what is missing.
        return match rendered
            .lines()
            .find_map(|l| l.trim().strip_prefix("Usage:"))
        {
            Some(usage) => format!("a command is missing; usage: {}", usage.trim()),
            None => "a command is missing; --help lists them".to_owned(),
        };
    }
    let mut lines = rendered.lines().map(str::trim);
    let first = lines.next().unwrap_or_default();
    let listed: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
    if listed.is_empty() {
        first.to_owned()
    } else {
        format!("{first} {}", listed.join(", "))
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", sentence(&clap_message(&e)));
            return ExitCode::FAILURE;
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", sentence(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}
