//! The `expenseplus` binary: parses the command line and reports failures as one
//! plain sentence on stderr with exit status 1.

use std::process::ExitCode;

use clap::Parser;
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

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            eprintln!("{}", sentence(rendered.lines().next().unwrap_or_default()));
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
