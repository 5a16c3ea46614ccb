//! A page's fetches, run ahead of its writing. What one page of a pass's list needs fetched (its
//! parents' details, the first page of each child list, the records they reference) is owned by a
//! [`Job`], so a task fetches it, all of it at once through the client's gate, while the run writes
//! the page before. [`Ahead`] holds those tasks, oldest first, at most a page or two: memory stays
//! flat. Returns what came, in list order, for the run (`run.rs`) to write; writes nothing, decides
//! nothing and moves no bookmark.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::future::{join3, join_all};
use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

use crate::drift::page::{Page, Pages};
use crate::drift::read::{complete, key_text, referenced, skip_404, Detail};
use crate::drift::DriftClient;
use crate::error::{Error, Result};
use crate::streams::StreamDef;

/// A record and its replication value.
pub(super) type Valued = (Map<String, Value>, Option<i64>);

/// A parent's key, its replication value, the walk over its child list, and that list's first page.
pub(super) type First = (Value, Option<i64>, Pages<'static>, Option<Page>);

/// Parents a child list takes: each one's key and replication value.
pub(super) type Parents = Vec<(Value, Option<i64>)>;

/// The records a referenced stream's ids fetched (`None`: gone, or another one answered).
pub(super) type Referenced = Result<Vec<Option<Map<String, Value>>>>;

/// The lowest replication value of a page, with its keys (see `Pass::take_low`).
pub(super) type Low = Option<(i64, Vec<Value>)>;

/// What one page of a pass needs fetched, and what its writing needs to know of it.
pub(super) struct Job {
    /// The pass's stream.
    pub(super) def: &'static StreamDef,
    /// The detail endpoint, when a field only it serves is selected.
    pub(super) detail: Option<&'static Detail>,
    /// The parents the stream itself takes.
    pub(super) own: Vec<Valued>,
    /// Each child list (in the pass's order) and the parents it takes (key, replication value).
    pub(super) lists: Vec<(&'static StreamDef, Parents)>,
    /// Each referenced stream (in the pass's order) and the ids not fetched yet in this run.
    pub(super) refs: Vec<(&'static StreamDef, Vec<String>)>,
    /// The config's page size, for the child lists.
    pub(super) page_size: u32,
    /// Requests started at once for one list of requests (the gate bounds those in flight).
    pub(super) width: usize,
    /// The page's lowest value, list pages read so far, and when it was read.
    pub(super) low: Low,
    pub(super) pages: u64,
    pub(super) extracted: String,
}

/// What came for one page, in list order.
pub(super) struct Fetched {
    /// The stream's own records, completed.
    pub(super) own: Result<Vec<Valued>>,
    /// Per child list, per parent in order: its first page; a list stops at its first error.
    pub(super) lists: Vec<Vec<Result<First>>>,
    /// Per referenced stream, the records.
    pub(super) refs: Vec<Referenced>,
    pub(super) low: Low,
    pub(super) pages: u64,
    pub(super) extracted: String,
}

/// Fetches what a page needs: details, child lists' first pages and referenced records at once.
pub(super) async fn fetch(client: Arc<DriftClient>, job: Job) -> Fetched {
    let client = &*client;
    let (def, detail, width) = (job.def, job.detail, job.width);
    let own = stream::iter(job.own)
        .map(|(record, value)| async move {
            let record = match detail {
                Some(detail) => complete(client, detail, def.key, def.name, record).await?,
                None => record,
            };
            Ok::<_, Error>((record, value))
        })
        .buffered(width)
        .try_collect();
    let lists = join_all(
        job.lists
            .into_iter()
            .map(|(child, parents)| firsts(client, child, parents, job.page_size, width)),
    );
    let refs = join_all(job.refs.into_iter().map(|(child, ids)| {
        stream::iter(ids)
            .map(move |id| async move {
                referenced(client, &child.list, child.key, child.name, &id).await
            })
            .buffered(width)
            .try_collect()
    }));
    let (own, lists, refs) = join3(own, lists, refs).await;
    Fetched {
        own,
        lists,
        refs,
        low: job.low,
        pages: job.pages,
        extracted: job.extracted,
    }
}

/// The first page of `child`'s list for each parent, in parent order, up to the first error.
async fn firsts(
    client: &DriftClient,
    child: &'static StreamDef,
    parents: Parents,
    page_size: u32,
    width: usize,
) -> Vec<Result<First>> {
    let firsts = stream::iter(parents)
        .map(|(parent_key, value)| async move {
            let id = key_text(&parent_key);
            let path = child.list.path_for(&id);
            let mut pages = Pages::new(&child.list, &path, child.key, child.name, page_size);
            let instead = "the parent vanished before its list could be read; skipped";
            let first = skip_404(
                pages.next_page(client).await,
                client.tally(),
                child.name,
                &id,
                instead,
            )?;
            Ok::<_, Error>((parent_key, value, pages, first.flatten()))
        })
        .buffered(width);
    futures_util::pin_mut!(firsts);
    let mut came = Vec::new();
    while let Some(first) = firsts.next().await {
        let failed = first.is_err();
        came.push(first);
        if failed {
            break; // the rest is not asked for: the writer refuses the stream at this error
        }
    }
    came
}

/// The pages being fetched ahead of the one being written, oldest first. Dropped (a run that
/// failed or was stopped), their requests are abandoned.
#[derive(Default)]
pub(super) struct Ahead(VecDeque<JoinHandle<Fetched>>);

impl Ahead {
    /// Starts fetching a page.
    pub(super) fn start(&mut self, client: &Arc<DriftClient>, job: Job) {
        self.0.push_back(tokio::spawn(fetch(client.clone(), job)));
    }

    /// Pages started and not taken yet.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The oldest page's fetches, once they all came.
    pub(super) async fn next(&mut self) -> Result<Option<Fetched>> {
        let Some(task) = self.0.pop_front() else {
            return Ok(None);
        };
        match task.await {
            Ok(fetched) => Ok(Some(fetched)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // only this holder aborts its tasks, when it is dropped: never seen here
            Err(e) => Err(Error::Decode {
                endpoint: String::new(),
                reason: format!("a page's requests were abandoned ({e})"),
            }),
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
