//! Diesel table definitions, one module per kind of database file.

/// `data/registry.sqlite`: organisations and their wrapped keys, server-side sessions.
pub mod registry {
    diesel::table! {
        organisations (id) {
            id -> BigInt,
            slug -> Text,
            name -> Text,
            wrapped_key -> Binary,
            created_at -> BigInt,
        }
    }

    diesel::table! {
        meta (name) {
            name -> Text,
            value -> Binary,
        }
    }

    diesel::table! {
        sessions (key_hash) {
            key_hash -> Binary,
            state -> Text,
            org_id -> Nullable<BigInt>,
            user_id -> Nullable<BigInt>,
            expires_at -> BigInt,
        }
    }
}

/// `data/orgs/<slug>/keys.sqlite`: one key per data subject, wrapped by the organisation key.
pub mod keys {
    diesel::table! {
        person_keys (id) {
            id -> BigInt,
            wrapped -> Nullable<Binary>,
            created_at -> BigInt,
            destroyed_at -> Nullable<BigInt>,
        }
    }
}

/// `data/orgs/<slug>/org.sqlite`: all business data of one organisation.
pub mod org {
    diesel::table! {
        users (id) {
            id -> BigInt,
            person_key_id -> BigInt,
            email_index -> Binary,
            email -> Binary,
            name -> Binary,
            roles -> Text,
            manager_id -> Nullable<BigInt>,
            password_hash -> Nullable<Text>,
            totp_secret -> Nullable<Binary>,
            totp_last_step -> Nullable<BigInt>,
            mfa_enabled -> Bool,
            active -> Bool,
            session_version -> BigInt,
            created_at -> BigInt,
            updated_at -> BigInt,
        }
    }

    diesel::table! {
        recovery_codes (id) {
            id -> BigInt,
            user_id -> BigInt,
            code_hash -> Binary,
            used_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        reset_tokens (token_hash) {
            token_hash -> Binary,
            user_id -> BigInt,
            expires_at -> BigInt,
            used_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        settings (name) {
            name -> Text,
            value -> Text,
        }
    }

    diesel::table! {
        audit_log (id) {
            id -> BigInt,
            at -> BigInt,
            actor_id -> Nullable<BigInt>,
            subject_id -> Nullable<BigInt>,
            action -> Text,
            detail -> Text,
            prev_hash -> Binary,
            hash -> Binary,
        }
    }

    diesel::table! {
        categories (code) {
            code -> Text,
            label -> Text,
            limit_minor -> Nullable<BigInt>,
            receipt_above_minor -> Nullable<BigInt>,
            active -> Bool,
        }
    }

    diesel::table! {
        claims (id) {
            id -> BigInt,
            owner_id -> BigInt,
            title -> Binary,
            status -> Text,
            currency -> Text,
            total_minor -> BigInt,
            version -> BigInt,
            form_key -> Nullable<Text>,
            created_at -> BigInt,
            updated_at -> BigInt,
            submitted_at -> Nullable<BigInt>,
            decided_at -> Nullable<BigInt>,
            paid_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        claim_lines (id) {
            id -> BigInt,
            claim_id -> BigInt,
            spent_on -> Text,
            category -> Text,
            merchant -> Binary,
            description -> Binary,
            amount_minor -> BigInt,
            currency -> Text,
            rate_e12 -> BigInt,
            base_minor -> BigInt,
            vat_minor -> Nullable<BigInt>,
            miles_tenths -> Nullable<BigInt>,
            form_key -> Nullable<Text>,
            created_at -> BigInt,
            mileage_first_tenths -> Nullable<BigInt>,
            mileage_first_rate -> Nullable<BigInt>,
            mileage_after_rate -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        claim_events (id) {
            id -> BigInt,
            claim_id -> BigInt,
            actor_id -> BigInt,
            at -> BigInt,
            from_status -> Text,
            to_status -> Text,
            comment -> Nullable<Binary>,
            on_behalf_of -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        receipts (id) {
            id -> BigInt,
            claim_id -> BigInt,
            line_id -> Nullable<BigInt>,
            content_type -> Text,
            size -> BigInt,
            data -> Binary,
            created_at -> BigInt,
        }
    }

    diesel::joinable!(claims -> users (owner_id));
    diesel::joinable!(claim_lines -> claims (claim_id));
    diesel::joinable!(claim_events -> claims (claim_id));
    diesel::joinable!(receipts -> claims (claim_id));
    diesel::joinable!(receipts -> claim_lines (line_id));

    diesel::allow_tables_to_appear_in_same_query!(
        users,
        recovery_codes,
        reset_tokens,
        audit_log,
        categories,
        claims,
        claim_lines,
        claim_events,
        receipts
    );

    diesel::table! {
        privacy_flags (user_id) {
            user_id -> BigInt,
            restricted_at -> Nullable<BigInt>,
            restriction_reason -> Nullable<Binary>,
            erase_due -> Nullable<Text>,
            erased_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        privacy_requests (id) {
            id -> BigInt,
            subject_id -> BigInt,
            kind -> Text,
            status -> Text,
            received_on -> Text,
            identity_requested_on -> Nullable<Text>,
            identity_verified_on -> Nullable<Text>,
            identity_method -> Nullable<Binary>,
            extension_months -> Integer,
            extended_on -> Nullable<Text>,
            extension_reason -> Nullable<Binary>,
            refusal_reason -> Nullable<Binary>,
            closed_on -> Nullable<Text>,
            opened_by -> BigInt,
            self_service -> Bool,
            created_at -> BigInt,
            updated_at -> BigInt,
        }
    }

    diesel::table! {
        retention_log (id) {
            id -> BigInt,
            at -> BigInt,
            run_date -> Text,
            kind -> Text,
            count -> BigInt,
            detail -> Text,
        }
    }

    diesel::joinable!(privacy_flags -> users (user_id));
    // The MFA policy is read beside the signed-in user, as a sub-select.
    diesel::allow_tables_to_appear_in_same_query!(settings, users);
    diesel::allow_tables_to_appear_in_same_query!(privacy_flags, users);
    diesel::allow_tables_to_appear_in_same_query!(privacy_flags, claims);

    diesel::table! {
        privacy_request_notes (id) {
            id -> BigInt,
            request_id -> BigInt,
            author_id -> BigInt,
            at -> BigInt,
            body -> Binary,
            withheld -> Bool,
        }
    }

    diesel::table! {
        breaches (id) {
            id -> BigInt,
            detected_at -> BigInt,
            nature -> Binary,
            categories -> Binary,
            people_approx -> BigInt,
            records_approx -> BigInt,
            consequences -> Binary,
            measures -> Binary,
            authority_told_at -> Nullable<BigInt>,
            no_report_reason -> Nullable<Binary>,
            people_told_at -> Nullable<BigInt>,
            recorded_by -> BigInt,
            created_at -> BigInt,
            updated_at -> BigInt,
        }
    }

    diesel::table! {
        processor_notices (id) {
            id -> BigInt,
            received_at -> BigInt,
            body -> Binary,
            acknowledged_at -> Nullable<BigInt>,
            acknowledged_by -> Nullable<BigInt>,
        }
    }

    diesel::joinable!(privacy_request_notes -> privacy_requests (request_id));

    diesel::allow_tables_to_appear_in_same_query!(privacy_requests, privacy_request_notes, users);

    diesel::table! {
        delegations (id) {
            id -> BigInt,
            delegator_id -> BigInt,
            delegate_id -> BigInt,
            starts_on -> Text,
            ends_on -> Text,
            created_at -> BigInt,
        }
    }

    diesel::table! {
        removed_lines (line_id) {
            line_id -> BigInt,
            claim_id -> BigInt,
        }
    }

    diesel::table! {
        id_high_water (tbl) {
            tbl -> Text,
            last -> BigInt,
        }
    }

    diesel::table! {
        spent_form_keys (form_key) {
            form_key -> Text,
            claim_id -> BigInt,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(delegations, users);
}
