//! Timestamps round-trip at microsecond precision in every table; the store answers `ping`.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sigra_core::ids::UserId;
use sigra_core::model::{
    AuditAction, AuditEvent, EmailToken, MfaCredential, Session, SessionKind, SessionMeta, User,
};
use sigra_core::token::{RawToken, TokenContext};
use sigra_tests::TestStore;

use super::phc;

/// A time with every microsecond digit significant.
fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::microseconds(micros)
}

pub(crate) async fn timestamps_round_trip_at_microsecond_precision(store: &TestStore) {
    let times = [
        at(2026, 11, 22, 12, 0, 0, 1),
        at(2026, 11, 22, 12, 0, 0, 999_999),
        at(1999, 12, 31, 23, 59, 59, 999_999),
        at(2038, 1, 19, 3, 14, 8, 123_457),
        at(2099, 6, 30, 0, 0, 0, 654_321),
        at(1970, 1, 1, 0, 0, 0, 7),
    ];
    for (i, &t) in times.iter().enumerate() {
        let u = |n: i64| t + TimeDelta::microseconds(n);
        let mut user = User::new(
            UserId::new(t),
            format!("user{i}@example.com"),
            Some(phc("aGFzaA")),
            t,
        );
        user.updated_at = u(1);
        user.confirmed_at = Some(u(2));
        user.locked_until = Some(u(3));
        user.deletion_scheduled_at = Some(u(4));
        store
            .insert_user(&user, &AuditEvent::register(&user))
            .await
            .unwrap();
        assert_eq!(
            store.user_by_id(user.id).await.unwrap(),
            Some(user.clone()),
            "user at {t}"
        );

        let token = RawToken::generate().unwrap();
        let mut session = Session::new(
            user.id,
            token.hash(),
            SessionKind::RememberMe,
            SessionMeta::default(),
            u(5),
        );
        session.last_active_at = u(6);
        session.sudo_at = Some(u(7));
        assert!(
            store
                .insert_session(&session, user.session_epoch)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .session_with_user(&token.hash())
                .await
                .unwrap()
                .map(|(s, _)| s),
            Some(session.clone())
        );
        store.touch_session(session.id, u(8)).await.unwrap();
        store.set_sudo(session.id, u(9)).await.unwrap();
        let (touched, _) = store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (touched.last_active_at, touched.sudo_at),
            (u(8), Some(u(9))),
            "session times at {t}"
        );

        let email = RawToken::generate().unwrap();
        let row = EmailToken::new(
            email.hash(),
            user.id,
            TokenContext::Confirm,
            user.email.clone(),
            u(10),
        );
        store.insert_email_token(&row).await.unwrap();
        assert_eq!(
            store
                .take_email_token(&email.hash(), TokenContext::Confirm)
                .await
                .unwrap(),
            Some(row)
        );

        let credential = MfaCredential::new(user.id, "k1:x".into(), u(11));
        store.upsert_mfa_credential(&credential).await.unwrap();
        assert_eq!(
            store.mfa_credential(user.id).await.unwrap(),
            Some(credential)
        );
        store.confirm_mfa(user.id, 1, u(12)).await.unwrap();
        assert_eq!(
            store
                .mfa_credential(user.id)
                .await
                .unwrap()
                .unwrap()
                .confirmed_at,
            Some(u(12))
        );

        let event = AuditEvent::new(AuditAction::LoginSuccess, Some(user.id), u(13));
        store.record_audit(&event).await.unwrap();
        assert_eq!(store.audit_for_user(user.id, 1).await.unwrap(), vec![event]);

        let fresh = phc("bmV3");
        store
            .set_password_hash(user.id, &fresh, u(14))
            .await
            .unwrap();
        assert_eq!(
            store.user_by_id(user.id).await.unwrap().unwrap().updated_at,
            u(14)
        );

        let locked = store
            .record_login_failure(user.id, u(15), 1, TimeDelta::microseconds(16))
            .await
            .unwrap();
        // `locked_until` from the insert (u(3)) is already past at u(15): the count restarts and locks anew.
        assert_eq!(locked.locked_until, Some(u(31)), "lock time at {t}");
        assert_eq!(
            store
                .user_by_id(user.id)
                .await
                .unwrap()
                .unwrap()
                .locked_until,
            Some(u(31))
        );
    }
}

pub(crate) async fn ping_answers(store: &TestStore) {
    store.ping().await.unwrap();
}
