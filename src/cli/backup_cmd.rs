//! `expenseplus backup run | list | verify | restore`.

use std::num::NonZeroUsize;
use std::path::Path;

use super::{CliError, open_org};
use crate::backup::manifest::SealState;
use crate::backup::{self, BackupError, BackupReport};
use crate::config::BackupCommand;
use crate::ids::Slug;
use crate::tenancy::{Registry, TenancyError, Tenants, Usage};

/// 1234567 -> "1.2 MB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Copies the organisations' wrapped keys (without which no backup can be opened)
/// beside the backups; a failure is reported and counted, like an organisation's.
fn copy_registry(
    registry: &Registry,
    root: &Path,
    failed: &mut Vec<String>,
) -> Result<(), CliError> {
    match backup::registry_copy::take(registry, root) {
        Ok(path) => {
            say!("copied the registry (organisation keys, no sessions)")?;
            say!("  {}", path.display())?;
        }
        Err(e) => {
            eprintln!("Copying the registry failed: {e}.");
            failed.push("the registry".to_owned());
        }
    }
    Ok(())
}

fn print_report(r: &BackupReport) -> Result<(), CliError> {
    say!(
        "backed up {} as {} ({}, verified, {:.1}s)",
        r.slug,
        r.id,
        human_size(r.bytes),
        r.took.as_secs_f64()
    )?;
    for f in &r.files {
        say!("  {}", f.display())?;
    }
    Ok(())
}

pub fn run(data_dir: &Path, cmd: BackupCommand) -> Result<(), CliError> {
    match cmd {
        BackupCommand::Run {
            org,
            rotate,
            keep,
            dir,
        } => {
            let root = dir.backup_dir.as_path();
            backup::check_location(data_dir, root)?;
            let registry = Registry::open(data_dir, false, Usage::Command)?;
            let mut failed = Vec::new();
            let mut slugs = Vec::new();
            match org {
                Some(slug) => {
                    let org = open_org(&registry, &slug)?;
                    let report = backup::backup_org(&org, &registry.org_dir(&slug), root)?;
                    print_report(&report)?;
                    slugs.push(slug);
                    copy_registry(&registry, root, &mut failed)?;
                }
                None => {
                    // One organisation open at a time.
                    let tenants = Tenants::new(registry, NonZeroUsize::MIN);
                    for (slug, result) in backup::backup_all(&tenants, root)? {
                        match result {
                            Ok(report) => print_report(&report)?,
                            Err(e) => {
                                eprintln!("The backup of {slug} failed: {e}.");
                                failed.push(slug.clone());
                            }
                        }
                        slugs.push(slug);
                    }
                    copy_registry(tenants.registry(), root, &mut failed)?;
                }
            }
            if rotate {
                for slug in &slugs {
                    for id in backup::rotation::rotate(root, slug, keep.retention())? {
                        say!("removed old backup {slug}/{id}")?;
                    }
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(CliError::SomeBackupsFailed(failed.join(", ")))
            }
        }
        BackupCommand::List { org, dir } => list(&dir.backup_dir, org.as_deref()),
        BackupCommand::Verify { org, id, dir } => {
            let slug = Slug::parse(&org).map_err(TenancyError::from)?;
            let m = backup::verify(&dir.backup_dir, slug.as_str(), &id)?;
            say!(
                "backup {id} of {} is intact ({}, taken {}, schema {})",
                m.org_slug,
                human_size(m.size()),
                m.created_at,
                m.schema_version
            )?;
            for f in &m.files {
                say!("  {}\t{}\tsha256 {}", f.name, human_size(f.size), f.sha256)?;
            }
            // The seal needs the organisation's key: checked where its data is.
            let org = Registry::open(data_dir, false, Usage::Command)
                .ok()
                .and_then(|r| open_org(&r, slug.as_str()).ok());
            match org.map(|org| m.seal_state(&org.keys)) {
                Some(SealState::Sealed) => say!("its seal is {slug}'s own")?,
                Some(SealState::Unsealed) => say!(
                    "it has no seal (made before backups were sealed): restoring it needs --accept-unsealed"
                )?,
                Some(SealState::Wrong) => return Err(BackupError::BadSeal { id }.into()),
                None => say!("its seal was not checked: {slug} is not in this data directory")?,
            }
            Ok(())
        }
        BackupCommand::Restore {
            org,
            from,
            accept_unsealed,
            dir,
        } => {
            let slug = Slug::parse(&org).map_err(TenancyError::from)?;
            let tenants = Tenants::new(
                Registry::open(data_dir, false, Usage::Command)?,
                NonZeroUsize::MIN,
            );
            let unsealed = if accept_unsealed {
                backup::Unsealed::Accept
            } else {
                backup::Unsealed::Refuse
            };
            let report = backup::restore_tenant(&tenants, &slug, &dir.backup_dir, &from, unsealed)?;
            say!(
                "restored {slug} from backup {}: {} tables, {} rows; the backup was verified first",
                report.id,
                report.tables,
                report.rows
            )?;
            say!(
                "ended {} session(s): everyone in {slug} signs in again",
                report.sessions_ended
            )?;
            say!("the current key store was kept, so people erased since the backup stay erased")?;
            let kept = &report.kept;
            say!(
                "kept from the live data: {} privacy register row(s) (restrictions, scheduled erasures, requests, breaches) and {} audit entries written since the backup",
                kept.register_rows,
                kept.audit_entries
            )?;
            say!(
                "kept {} people's accounts as they are now (status, roles, sign-in, corrected details)",
                kept.people
            )?;
            if kept.dropped_rows > 0 {
                say!(
                    "left out {} register row(s) about people added after the backup (they are not in it)",
                    kept.dropped_rows
                )?;
            }
            if !kept.not_kept.is_empty() {
                say!(
                    "could not keep the live {} (unreadable, or not continuing the backup's audit chain): the backup's stand",
                    kept.not_kept.join(", ")
                )?;
            }
            Ok(())
        }
    }
}

fn list(root: &Path, org: Option<&str>) -> Result<(), CliError> {
    let slugs: Vec<String> = match org {
        Some(s) => vec![Slug::parse(s).map_err(TenancyError::from)?.to_string()],
        None => {
            let mut found = Vec::new();
            if let Ok(entries) = std::fs::read_dir(root) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if e.path().is_dir() && Slug::parse(&name).is_ok() {
                        found.push(name);
                    }
                }
            }
            found.sort();
            found
        }
    };
    let mut any = false;
    for slug in slugs {
        for entry in backup::list(root, &slug)? {
            any = true;
            match entry.manifest {
                Ok(m) => say!(
                    "{slug}\t{}\t{}\t{}",
                    entry.id,
                    m.created_at,
                    human_size(m.size())
                )?,
                Err(reason) => say!("{slug}\t{}\tunreadable: {reason}", entry.id)?,
            }
        }
    }
    if !any {
        say!("no backups in {}", root.display())?;
    }
    Ok(())
}
