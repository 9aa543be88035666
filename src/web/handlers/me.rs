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

/// GET /me/data: `my-data.zip` as an attachment, never cached.
pub async fn data(user: CurrentUser) -> Result<HttpResponse, AppError> {
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
    Ok(zip_download(user.org().clone(), ready, "my-data.zip"))
}

/// How much of a ZIP is sent at a time, and how many such pieces may wait to be sent.
const PIECE: usize = 64 * 1024;
const PIECES_WAITING: usize = 4;

/// The body side of a download written on a blocking thread: pieces go to the
/// response as they are made, and the writer waits while the client is behind.
struct ToBody {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    piece: Vec<u8>,
}

impl ToBody {
    fn send(&mut self) -> io::Result<()> {
        let piece = Bytes::from(std::mem::take(&mut self.piece));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the download was abandoned"))
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
pub fn zip_download(org: Arc<Org>, ready: Prepared, name: &str) -> HttpResponse {
    let (tx, mut rx) = mpsc::channel(PIECES_WAITING);
    actix_web::rt::task::spawn_blocking(move || {
        let body = ToBody {
            tx: tx.clone(),
            piece: Vec::with_capacity(PIECE),
        };
        let written = ready
            .write_zip(&org, body)
            .map_err(|e| e.to_string())
            .and_then(|mut body| body.flush().map_err(|e| e.to_string()));
        if let Err(e) = written {
            log::warn!("a data export in {} stopped: {e}", org.slug);
            let _ = tx.blocking_send(Err(io::Error::other("the export stopped")));
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
