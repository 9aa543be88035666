//! Self-service for the signed-in person: their own data as a ZIP (access and
//! portability), downloadable at any time and audited.

use std::io::{self, Write};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use tokio::sync::mpsc;

use super::privacy_people::fault;
use crate::audit::{self, Action};
use crate::privacy::export::{self, Prepared};
use crate::tenancy::Org;
use crate::web::AppError;
use crate::web::access::CurrentUser;
use crate::web::state::AppState;
use crate::web::uploads::{Busy, Turn};

/// GET /me/data: `my-data.zip` as an attachment, never cached.
pub async fn data(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    let turn = export_turn(&state, &user).await?;
    let (org, me) = (user.org().clone(), user.id());
    let ready = web::block(move || -> Result<Prepared, AppError> {
        let ready = export::prepare(&org, me).map_err(fault)?;
        audit::record(
            &org,
            Some(me),
            Some(me),
            Action::ExportedOwnData,
            "self-service",
        )?;
        Ok(ready)
    })
    .await??;
    Ok(zip_download(turn, user.org().clone(), ready, "my-data.zip"))
}

/// How much of a ZIP is sent at a time, and how many such pieces may wait to be sent.
const PIECE: usize = 64 * 1024;
const PIECES_WAITING: usize = 4;
/// A client that takes no piece for this long has gone: the export stops.
const STALLED: std::time::Duration = std::time::Duration::from_secs(60);

/// One export's turn, taken before the export is prepared (so a refusal comes before
/// anything is gathered or audited) and given back when its writing ends.
pub type ExportTurn = Turn;

pub async fn export_turn(state: &AppState, user: &CurrentUser) -> Result<ExportTurn, AppError> {
    state
        .exports
        .take((user.org().id.0, user.id().0))
        .await
        .map_err(|busy| {
            AppError::Busy(match busy {
                Busy::Person => {
                    "Your last export is still downloading. Wait until it has finished, then try again."
                }
                Busy::Organisation | Busy::Server => {
                    "Many exports are downloading right now. Try again in a minute."
                }
            })
        })
}

/// The body side of a download written on a blocking thread: pieces go to the
/// response as they are made, and the writer waits while the client is behind.
struct ToBody {
    /// Given back before `tx` closes the download (fields drop in this order), so a
    /// client that has read the whole ZIP may ask for the next at once.
    _turn: ExportTurn,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    piece: Vec<u8>,
    runtime: tokio::runtime::Handle,
    /// Set once the whole ZIP went: otherwise dropping this (an error, a panic) tells
    /// the response, which then ends short instead of looking complete.
    done: bool,
}

impl ToBody {
    fn send(&mut self) -> io::Result<()> {
        let piece = Bytes::from(std::mem::take(&mut self.piece));
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(STALLED, self.tx.send(Ok(piece))));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the download was abandoned",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing for a minute",
            )),
        }
    }
}

impl Drop for ToBody {
    fn drop(&mut self) {
        if !self.done {
            let _ = self
                .tx
                .try_send(Err(io::Error::other("the export stopped")));
        }
    }
}

impl Write for ToBody {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PIECE - self.piece.len());
        self.piece.extend_from_slice(&data[..n]);
        if self.piece.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// A prepared export as a ZIP attachment named `name`, never cached or sniffed. The
/// ZIP is written while it is sent: the server holds one receipt at a time, not the
/// whole archive. A failure part-way (logged) cuts the download short, so the
/// browser reports it failed rather than saving a damaged file as complete.
pub fn zip_download(turn: ExportTurn, org: Arc<Org>, ready: Prepared, name: &str) -> HttpResponse {
    let (tx, mut rx) = mpsc::channel(PIECES_WAITING);
    let runtime = tokio::runtime::Handle::current();
    actix_web::rt::task::spawn_blocking(move || {
        let body = ToBody {
            _turn: turn,
            tx,
            piece: Vec::with_capacity(PIECE),
            runtime,
            done: false,
        };
        let written = ready
            .write_zip(&org, body)
            .map_err(|e| e.to_string())
            .and_then(|mut body| {
                body.flush().map_err(|e| e.to_string())?;
                body.done = true;
                Ok(())
            });
        if let Err(e) = written {
            log::warn!("a data export in {} stopped: {e}", org.slug);
        }
    });
    let pieces = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .streaming(pieces)
}
