//! Diesel table definitions, written by hand to match `migrations/sqlite/` and its twin `migrations/postgres/`
//! (`tests/pg_schema.rs` holds the two to one schema): only portable SQL types (text, bigint, boolean, binary); ids
//! as UUID text, or as 16 bytes in the op log and visits.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        created_ms -> BigInt,
        community_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        user_id -> Text,
        label -> Text,
        created_ms -> BigInt,
        revoked_ms -> Nullable<BigInt>,
        community_id -> BigInt,
    }
}

diesel::table! {
    enrolment_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        issued_by -> Text,
        label -> Text,
        created_ms -> BigInt,
        expires_ms -> BigInt,
        used_ms -> Nullable<BigInt>,
        device_id -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        device_id -> Text,
        created_ms -> BigInt,
        expires_ms -> BigInt,
        revoked_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    op_log (community_id, seq) {
        community_id -> BigInt,
        seq -> BigInt,
        op_id -> Binary,
        device_id -> Binary,
        replica -> Nullable<Binary>,
        author -> Binary,
        kind -> BigInt,
        entity -> Binary,
        grid -> Nullable<Binary>,
        hlc_wall_ms -> BigInt,
        hlc_logical -> BigInt,
        received_ms -> BigInt,
        format -> BigInt,
        body -> Binary,
    }
}

diesel::table! {
    grid_cells (id) {
        id -> Text,
        name -> Nullable<Text>,
        community -> Nullable<Text>,
        households -> BigInt,
        elderly_alone -> BigInt,
        workers -> BigInt,
        butlers -> BigInt,
        updated_seq -> BigInt,
        community_id -> BigInt,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        grid -> Nullable<Text>,
        status -> Text,
        channel -> Nullable<Text>,
        category -> Nullable<Text>,
        complexity -> Text,
        created_ms -> Nullable<BigInt>,
        taken_ms -> Nullable<BigInt>,
        on_site_ms -> Nullable<BigInt>,
        solved_ms -> Nullable<BigInt>,
        planned_ms -> Nullable<BigInt>,
        answered_ms -> Nullable<BigInt>,
        satisfaction -> Nullable<BigInt>,
        verdicts -> Text,
        compliant -> Nullable<Bool>,
        updated_seq -> BigInt,
    }
}

diesel::table! {
    /// `tickets` seen through its key and community only: the table has 17 columns, one more than `table!` takes
    /// without diesel's slower-to-build `32-column-tables` feature.
    #[sql_name = "tickets"]
    ticket_community (id) {
        id -> Text,
        community_id -> BigInt,
    }
}

diesel::table! {
    entries (id) {
        id -> Text,
        kind -> Text,
        volunteer -> Text,
        grid -> Text,
        status -> Text,
        recorded_ms -> BigInt,
        activity -> Nullable<Text>,
        minutes -> Nullable<BigInt>,
        approved_minutes -> BigInt,
        updated_seq -> BigInt,
        community_id -> BigInt,
    }
}

diesel::table! {
    visits (entry_id) {
        entry_id -> Binary,
        volunteer -> Binary,
        grid -> Binary,
        household -> Binary,
        seen -> Bool,
        health -> Nullable<Text>,
        follow_up -> Nullable<Binary>,
        visited_ms -> BigInt,
        voided -> Bool,
        community_id -> BigInt,
    }
}

diesel::table! {
    card_movements (op_id) {
        op_id -> Text,
        volunteer -> Text,
        kind -> Text,
        points -> BigInt,
        replica -> Text,
        entry_id -> Nullable<Text>,
        to_replica -> Nullable<Text>,
        purpose -> Nullable<Text>,
        hlc_wall_ms -> BigInt,
        seq -> BigInt,
        community_id -> BigInt,
    }
}

diesel::table! {
    cards (volunteer) {
        volunteer -> Text,
        credited -> BigInt,
        redeemed -> BigInt,
        balance -> BigInt,
        pending -> BigInt,
        updated_seq -> BigInt,
        community_id -> BigInt,
    }
}

diesel::table! {
    communities (id) {
        id -> BigInt,
        name -> Text,
        street_office -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    community_head (community_id) {
        community_id -> BigInt,
        last_seq -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    communities,
    community_head,
    users,
    devices,
    enrolment_codes,
    refresh_tokens,
    op_log,
    grid_cells,
    tickets,
    ticket_community,
    entries,
    visits,
    card_movements,
    cards,
);

diesel::table! {
    fee_dues (community_id, household, period) {
        household -> Text,
        period -> Text,
        amount_fen -> BigInt,
        imported_ms -> BigInt,
        community_id -> BigInt,
    }
}

diesel::table! {
    /// The community each household belongs to (the first that named it).
    household_community (household) {
        household -> Text,
        community_id -> BigInt,
    }
}

diesel::table! {
    fee_payments (id) {
        id -> Text,
        household -> Text,
        period -> Text,
        amount_fen -> BigInt,
        recorded_by -> Text,
        recorded_ms -> BigInt,
        community_id -> BigInt,
    }
}

diesel::table! {
    login_throttle_lifts (username) {
        username -> Text,
        lifted_ms -> BigInt,
    }
}

diesel::table! {
    /// Each community's latest checkpoint (`checkpoint.rs`): the state and log-index bytes at `seq`.
    checkpoints (community_id) {
        community_id -> BigInt,
        seq -> BigInt,
        format -> BigInt,
        state -> Binary,
        log_index -> Binary,
        created_ms -> BigInt,
        logic -> Text,
    }
}

diesel::table! {
    /// Open311 clients (`open311/clients.rs`): an api_key's SHA-256 per client, per community.
    open311_clients (id) {
        id -> Text,
        community_id -> BigInt,
        name -> Text,
        key_hash -> Text,
        created_ms -> BigInt,
        revoked_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Requests filed over Open311: the ticket, its client, the SHA-256 of its token.
    open311_requests (ticket_id) {
        ticket_id -> Text,
        community_id -> BigInt,
        client_id -> Text,
        token_hash -> Text,
        created_ms -> BigInt,
    }
}
