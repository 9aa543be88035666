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
            active -> Bool,
            created_at -> BigInt,
            updated_at -> BigInt,
        }
    }
}
