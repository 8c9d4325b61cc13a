// Diesel table definitions, matching migrations/ (what `diesel print-schema` would write).

diesel::table! {
    experiments (id) {
        id -> Int8,
        key -> Text,
        name -> Text,
        description -> Text,
        dimension -> Text,
        kind -> Text,
        status -> Text,
        control_key -> Text,
        goal_event -> Text,
        goal_metric -> Text,
        targeting -> Jsonb,
        traffic -> Float8,
        floor -> Float8,
        min_users_per_arm -> Int4,
        winner_key -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        stopped_at -> Nullable<Timestamptz>,
        rules -> Jsonb,
        layer -> Nullable<Jsonb>,
        context -> Array<Text>,
        goal_metric_id -> Nullable<Int8>,
        goal_window_seconds -> Nullable<Int8>,
        goal_of_count -> Bool,
        goal_cap_value -> Nullable<Float8>,
        goal_from_seconds -> Nullable<Int8>,
        goal_to_seconds -> Nullable<Int8>,
        analysis -> Text,
        cuped_lookback_seconds -> Nullable<Int8>,
        min_runtime_seconds -> Int8,
        minimum_effect -> Float8,
        context_segments -> Array<Text>,
        policy -> Text,
        factors -> Jsonb,
    }
}

diesel::table! {
    variants (id) {
        id -> Int8,
        experiment_id -> Int8,
        position -> Int4,
        key -> Text,
        name -> Text,
        payload -> Jsonb,
        weight -> Float8,
        dropped_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    variant_stats (variant_id, shard) {
        variant_id -> Int8,
        shard -> Int2,
        experiment_id -> Int8,
        users -> Int8,
        conversions -> Int8,
        value_sum -> Float8,
        value_sum_sq -> Float8,
    }
}

diesel::table! {
    period_stats (variant_id, period_start, shard) {
        variant_id -> Int8,
        period_start -> Timestamptz,
        shard -> Int2,
        experiment_id -> Int8,
        users -> Int8,
        conversions -> Int8,
        value_sum -> Float8,
        value_sum_sq -> Float8,
        expected_users -> Float8,
    }
}

diesel::table! {
    assignments (experiment_id, user_id) {
        experiment_id -> Int8,
        user_id -> Text,
        variant_id -> Int8,
        assigned_at -> Timestamptz,
        propensity -> Float8,
        attributes -> Jsonb,
        converted_at -> Nullable<Timestamptz>,
        value -> Float8,
        context_key -> Nullable<Text>,
        counted_value -> Nullable<Float8>,
    }
}

diesel::table! {
    context_stats (variant_id, context_key, shard) {
        variant_id -> Int8,
        context_key -> Text,
        shard -> Int2,
        experiment_id -> Int8,
        users -> Int8,
        conversions -> Int8,
        value_sum -> Float8,
        value_sum_sq -> Float8,
    }
}

diesel::table! {
    // Partitioned by day of occurred_at; no key over the whole table (each partition has its
    // own unique (user_id, event_id)); diesel needs one named, this one is unique.
    events (user_id, event_id, occurred_at) {
        user_id -> Text,
        event_id -> Text,
        name -> Text,
        value -> Nullable<Float8>,
        occurred_at -> Timestamptz,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Int8,
        key_hash -> Text,
        scope -> Text,
        label -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        rate_limit -> Nullable<Float8>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        target -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
    }
}

diesel::table! {
    segments (id) {
        id -> Int8,
        key -> Text,
        name -> Text,
        description -> Text,
        rule -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    holdout (id) {
        id -> Int2,
        fraction -> Float8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    holdout_users (user_id) {
        user_id -> Text,
        held_out_at -> Timestamptz,
    }
}

diesel::table! {
    erasures (id) {
        id -> Int8,
        user_key -> Bytea,
        erased_at -> Timestamptz,
    }
}

diesel::table! {
    metrics (id) {
        id -> Int8,
        key -> Text,
        name -> Text,
        description -> Text,
        #[sql_name = "type"]
        metric_type -> Text,
        event -> Nullable<Text>,
        of_count -> Bool,
        cap_value -> Nullable<Float8>,
        cap_percentile -> Nullable<Float8>,
        numerator_id -> Nullable<Int8>,
        denominator_id -> Nullable<Int8>,
        window_seconds -> Nullable<Int8>,
        from_seconds -> Nullable<Int8>,
        to_seconds -> Nullable<Int8>,
        direction -> Text,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    experiment_metrics (experiment_id, role, metric_id) {
        experiment_id -> Int8,
        role -> Text,
        metric_id -> Int8,
        position -> Int4,
        threshold -> Float8,
        action -> Text,
    }
}

diesel::table! {
    guardrail_firings (experiment_id, metric_id, variant_id) {
        experiment_id -> Int8,
        metric_id -> Int8,
        variant_id -> Int8,
        action -> Text,
        lift_mean -> Float8,
        lift_low -> Float8,
        lift_high -> Float8,
        threshold -> Float8,
        users -> Int8,
        fired_at -> Timestamptz,
    }
}

diesel::table! {
    tracked_metrics (experiment_id, metric_id) {
        experiment_id -> Int8,
        metric_id -> Int8,
        computed_version -> Int8,
    }
}

diesel::table! {
    metric_values (experiment_id, metric_id, user_id) {
        experiment_id -> Int8,
        metric_id -> Int8,
        user_id -> Text,
        variant_id -> Int8,
        assigned_at -> Timestamptz,
        events -> Int8,
        value_sum -> Float8,
        first_at -> Nullable<Timestamptz>,
        value -> Float8,
    }
}

diesel::table! {
    metric_stats (experiment_id, metric_id, variant_id, shard) {
        experiment_id -> Int8,
        metric_id -> Int8,
        variant_id -> Int8,
        shard -> Int2,
        users -> Int8,
        total -> Float8,
        total_sq -> Float8,
    }
}

diesel::joinable!(variants -> experiments (experiment_id));
diesel::joinable!(experiment_metrics -> experiments (experiment_id));
diesel::joinable!(experiment_metrics -> metrics (metric_id));
diesel::joinable!(assignments -> experiments (experiment_id));

diesel::allow_tables_to_appear_in_same_query!(
    experiments,
    variants,
    variant_stats,
    period_stats,
    assignments,
    context_stats,
    events,
    api_keys,
    audit_log,
    segments,
    holdout,
    holdout_users,
    erasures,
    metrics,
    experiment_metrics,
    tracked_metrics,
    metric_values,
    metric_stats,
    guardrail_firings,
);

diesel::table! {
    webhooks (id) {
        id -> Int8,
        url -> Text,
        events -> Array<Text>,
        secret -> Text,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        webhook_id -> Int8,
        event -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
        next_attempt_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        given_up_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        delivery_id -> Int8,
        at -> Timestamptz,
        status -> Nullable<Int4>,
        error -> Nullable<Text>,
        duration_ms -> Int4,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries, webhook_attempts);

diesel::table! {
    metric_history (experiment_id, metric_key, variant_id, day) {
        experiment_id -> Int8,
        metric_key -> Text,
        variant_id -> Int8,
        day -> Date,
        users -> Int8,
        value_mean -> Float8,
        lift_mean -> Nullable<Float8>,
        lift_low -> Nullable<Float8>,
        lift_high -> Nullable<Float8>,
        p_value -> Nullable<Float8>,
        recorded_at -> Timestamptz,
    }
}
