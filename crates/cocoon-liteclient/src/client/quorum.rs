//! `sync`: ask every liteserver for its last masterchain block and adopt the newest block
//! that at least `quorum` of them vouch for (by reporting it, or by returning exactly that
//! block id, with a header proof of its root hash, when asked for its seqno).

use futures::future::join_all;

use super::{ClientError, LiteClient};
use crate::boc::parse_single_root;
use crate::connection::QueryError;
use crate::proof::check_block_header;
use crate::tl::{BlockIdExt, LiteQuery, LiteRequest, LiteResponse, MASTERCHAIN, SHARD_FULL};

/// Most distinct reported blocks tried per sync (newest first), bounding the lookups.
const MAX_CANDIDATES: usize = 4;

impl LiteClient {
    /// Refreshes the agreed masterchain block and returns it. The agreed block never moves
    /// backwards; when no block reaches the quorum the previous one is kept and an error
    /// returned.
    pub async fn sync(&self) -> Result<BlockIdExt, ClientError> {
        let info = LiteQuery {
            wait_masterchain_seqno: None,
            request: LiteRequest::GetMasterchainInfo,
        };
        let answers = join_all((0..self.servers.len()).map(|i| self.query_server(i, &info))).await;
        let mut reports: Vec<(usize, BlockIdExt)> = Vec::new();
        let mut problems = Vec::new();
        for (index, answer) in answers.into_iter().enumerate() {
            match answer.and_then(|r| self.check_info(r)) {
                Ok(last) => {
                    self.mark(index, Ok(()));
                    reports.push((index, last));
                }
                Err(error) => {
                    problems.push(format!("{}: {error}", self.server_name(index)));
                    self.mark(index, Err(&error));
                }
            }
        }
        let mut candidates: Vec<BlockIdExt> = reports.iter().map(|(_, b)| *b).collect();
        candidates.sort_by_key(|b| (std::cmp::Reverse(b.seqno), b.root_hash, b.file_hash));
        candidates.dedup();
        for candidate in candidates.into_iter().take(MAX_CANDIDATES) {
            let votes = self.votes_for(&candidate, &reports, &mut problems).await;
            if votes >= self.quorum {
                return self.adopt(candidate);
            }
        }
        let detail = if problems.is_empty() {
            "servers report different blocks".into()
        } else {
            problems.join("; ")
        };
        tracing::warn!(quorum = self.quorum, %detail, "no agreed masterchain block");
        Err(ClientError::NoQuorum {
            quorum: self.quorum,
            detail,
        })
    }

    fn server_name(&self, index: usize) -> String {
        self.servers
            .get(index)
            .map(|s| s.entry.addr.to_string())
            .unwrap_or_default()
    }

    fn check_info(&self, response: LiteResponse) -> Result<BlockIdExt, QueryError> {
        let LiteResponse::MasterchainInfo { last, init, .. } = response else {
            return Err(super::unexpected(&response));
        };
        if last.workchain != MASTERCHAIN || last.shard != SHARD_FULL {
            return Err(QueryError::Unexpected(format!(
                "last block {last} is not a masterchain block"
            )));
        }
        if let Some(zero) = &self.config.zero_state {
            if init.root_hash != zero.root_hash || init.file_hash != zero.file_hash {
                return Err(QueryError::Unexpected(
                    "liteserver is on another network (zero state differs)".into(),
                ));
            }
        }
        Ok(last)
    }

    /// Servers reporting `candidate`, plus servers ahead of it that confirm it by seqno.
    async fn votes_for(
        &self,
        candidate: &BlockIdExt,
        reports: &[(usize, BlockIdExt)],
        problems: &mut Vec<String>,
    ) -> usize {
        let mut votes = reports.iter().filter(|(_, b)| b == candidate).count();
        let ahead: Vec<usize> = reports
            .iter()
            .filter(|(_, b)| b.seqno > candidate.seqno)
            .map(|(i, _)| *i)
            .collect();
        if votes + ahead.len() < self.quorum {
            return votes;
        }
        let lookup = LiteQuery {
            wait_masterchain_seqno: None,
            request: LiteRequest::LookupMasterchainBlock {
                seqno: candidate.seqno,
            },
        };
        let answers = join_all(ahead.iter().map(|i| self.query_server(*i, &lookup))).await;
        for (index, answer) in ahead.into_iter().zip(answers) {
            match answer.and_then(|r| confirm(candidate, r)) {
                Ok(true) => votes += 1,
                Ok(false) => problems.push(format!(
                    "{} disagrees on masterchain block {}",
                    self.server_name(index),
                    candidate.seqno
                )),
                Err(error) => {
                    problems.push(format!("{}: {error}", self.server_name(index)));
                    self.mark(index, Err(&error));
                }
            }
        }
        votes
    }

    fn adopt(&self, candidate: BlockIdExt) -> Result<BlockIdExt, ClientError> {
        if let Some(init) = &self.config.init_block {
            if candidate.seqno < init.seqno {
                return Err(ClientError::NoQuorum {
                    quorum: self.quorum,
                    detail: format!(
                        "agreed block {} is older than the config's init block {}",
                        candidate.seqno, init.seqno
                    ),
                });
            }
        }
        let mut agreed = super::lock(&self.agreed);
        match *agreed {
            Some(old) if old.seqno > candidate.seqno => Ok(old),
            Some(old) if old.seqno == candidate.seqno && old != candidate => {
                Err(ClientError::NoQuorum {
                    quorum: self.quorum,
                    detail: format!(
                        "quorum now names {candidate} for seqno {}, earlier {old}",
                        old.seqno
                    ),
                })
            }
            _ => {
                *agreed = Some(candidate);
                tracing::debug!(block = %candidate, "masterchain block agreed");
                Ok(candidate)
            }
        }
    }
}

/// Whether a `lookupBlock` answer names exactly `candidate` (with a valid header proof).
fn confirm(candidate: &BlockIdExt, response: LiteResponse) -> Result<bool, QueryError> {
    let LiteResponse::BlockHeader {
        id, header_proof, ..
    } = response
    else {
        return Err(super::unexpected(&response));
    };
    if id.seqno != candidate.seqno || id.workchain != MASTERCHAIN || id.shard != SHARD_FULL {
        return Err(QueryError::Unexpected(format!(
            "lookup of seqno {} answered with {id}",
            candidate.seqno
        )));
    }
    let proof = parse_single_root(&header_proof).map_err(crate::proof::ProofError::from)?;
    check_block_header(&proof, &id)?;
    Ok(id == *candidate)
}
