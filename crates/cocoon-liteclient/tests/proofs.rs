//! Proof checks on mock-built (SIMULATED) blocks, including proofs with pruned branches as
//! real liteservers send them.

use cocoon_liteclient::boc::serialize_boc;
use cocoon_liteclient::mock::{merkle_proof, pruned, BuiltChain, MockAccount, MockChain};
use cocoon_liteclient::proof::{
    check_account_proof, check_account_state, check_block_proof, ProofError,
};
use cocoon_liteclient::tlb::TlbError;
use cocoon_liteclient::AccountId;
use tonlib_core::cell::{ArcCell, CellBuilder};

fn address(byte: u8) -> AccountId {
    AccountId {
        workchain: 0,
        id: [byte; 32],
    }
}

fn built() -> BuiltChain {
    let accounts = [0x10u8, 0x80, 0x81, 0xf0]
        .iter()
        .map(|b| MockAccount {
            address: address(*b),
            balance: u128::from(*b),
            code: None,
            data: None,
            transactions: vec![],
        })
        .collect();
    MockChain {
        mc_seqno: 4,
        global_id: 1,
        now: 1_700_000_004,
        accounts,
    }
    .build()
    .expect("build")
}

/// `cell` with the references at `prune` replaced by pruned branches.
fn with_pruned_refs(cell: &ArcCell, prune: &[usize]) -> ArcCell {
    let refs: Vec<ArcCell> = cell
        .references()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if prune.contains(&i) {
                pruned(r).expect("prune")
            } else {
                r.clone()
            }
        })
        .collect();
    let mut b = CellBuilder::new();
    b.store_bits(cell.bit_len(), cell.data()).expect("bits");
    b.store_references(&refs).expect("refs");
    b.build().expect("build").to_arc()
}

fn proof_boc(block: &ArcCell, state: &ArcCell) -> Vec<u8> {
    serialize_boc(&[
        merkle_proof(block).expect("proof"),
        merkle_proof(state).expect("proof"),
    ])
    .expect("boc")
}

#[test]
fn pruned_proofs_keep_the_original_hashes_and_verify() {
    let chain = built();
    let target = address(0x80);
    let account_cell = chain
        .accounts
        .get(&target)
        .map(|(c, _)| c.clone())
        .expect("account");
    // Prune the out-message queue and the state's extra reference, and inside the accounts
    // dictionary the branch not on the path to 0x80.. (the root fork's left child).
    let accounts = chain
        .shard_state_cell
        .reference(1)
        .expect("accounts")
        .clone();
    let dict_root = accounts.reference(0).expect("dict").clone();
    let pruned_dict = with_pruned_refs(&dict_root, &[0]);
    assert_eq!(pruned_dict.get_hash(0), dict_root.get_hash(0));
    assert_ne!(pruned_dict.cell_hash(), dict_root.cell_hash());
    let mut b = CellBuilder::new();
    b.store_bits(accounts.bit_len(), accounts.data())
        .expect("bits");
    b.store_reference(&pruned_dict).expect("ref");
    let accounts_pruned = b.build().expect("build").to_arc();
    let state = chain.shard_state_cell.clone();
    let mut b = CellBuilder::new();
    b.store_bits(state.bit_len(), state.data()).expect("bits");
    let refs = [
        pruned(&state.references()[0]).expect("p"),
        accounts_pruned,
        pruned(&state.references()[2]).expect("p"),
    ];
    b.store_references(&refs).expect("refs");
    let state_pruned = b.build().expect("build").to_arc();
    assert_eq!(state_pruned.get_hash(0), state.get_hash(0));

    let block_pruned = with_pruned_refs(&chain.shard_block_cell, &[1, 3]);
    let proof = proof_boc(&block_pruned, &state_pruned);
    let proven = check_account_proof(&chain.shard_block, &target, &proof, Some(&account_cell))
        .expect("valid proof");
    assert!(proven.exists);

    // The pruned-away account cannot be read from this proof.
    let hidden = address(0x10);
    let error =
        check_account_proof(&chain.shard_block, &hidden, &proof, None).expect_err("pruned path");
    assert!(
        matches!(error, ProofError::Tlb(TlbError::Pruned(_))),
        "{error}"
    );
}

#[test]
fn proofs_are_bound_to_block_state_and_account() {
    let chain = built();
    let other = MockChain {
        mc_seqno: 4,
        global_id: 2,
        now: 1_700_000_004,
        accounts: vec![],
    }
    .build()
    .expect("build");
    let target = address(0x81);
    let account_cell = chain
        .accounts
        .get(&target)
        .map(|(c, _)| c.clone())
        .expect("account");
    let proof = proof_boc(&chain.shard_block_cell, &chain.shard_state_cell);
    let shard_proof = proof_boc(&chain.mc_block_cell, &chain.mc_state_cell);

    check_account_state(
        &chain.mc_block,
        &chain.shard_block,
        &target,
        &shard_proof,
        &proof,
        Some(&account_cell),
    )
    .expect("consistent answer");
    // Another masterchain block: the shard proof does not match it.
    let e = check_account_state(
        &other.mc_block,
        &chain.shard_block,
        &target,
        &shard_proof,
        &proof,
        Some(&account_cell),
    );
    assert!(e.is_err());
    // A shard block the masterchain does not name.
    let e = check_account_state(
        &chain.mc_block,
        &other.shard_block,
        &target,
        &shard_proof,
        &proof,
        Some(&account_cell),
    );
    assert!(e.is_err());
    // Another account's state under this address.
    let wrong = chain
        .accounts
        .get(&address(0x80))
        .map(|(c, _)| c.clone())
        .expect("account");
    assert!(check_account_proof(&chain.shard_block, &target, &proof, Some(&wrong)).is_err());
    // Claiming a present account is absent, and the other way round.
    assert!(check_account_proof(&chain.shard_block, &target, &proof, None).is_err());
    assert!(check_account_proof(
        &chain.shard_block,
        &address(0x55),
        &proof,
        Some(&account_cell)
    )
    .is_err());
    assert!(
        !check_account_proof(&chain.shard_block, &address(0x55), &proof, None)
            .expect("absent")
            .exists
    );
    // State proof of another state.
    let mixed = proof_boc(&chain.shard_block_cell, &other.shard_state_cell);
    assert!(check_account_proof(&chain.shard_block, &target, &mixed, Some(&account_cell)).is_err());
    // A block proof checked against the wrong id.
    let block_proof = merkle_proof(&chain.mc_block_cell).expect("proof");
    assert_eq!(
        check_block_proof(&block_proof, &chain.mc_block).expect("ok"),
        <[u8; 32]>::from(chain.mc_state_cell.get_hash(0))
    );
    assert!(check_block_proof(&block_proof, &chain.shard_block).is_err());
    // Truncated or garbage proofs fail without panicking.
    for cut in [0, 1, 10, proof.len() / 2, proof.len() - 1] {
        assert!(check_account_proof(
            &chain.shard_block,
            &target,
            &proof[..cut],
            Some(&account_cell)
        )
        .is_err());
    }
}
