//! A patient learns at once that the server has their emergency, even while no doctor is online.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, Ws, clinic};
use serde_json::json;

#[tokio::test]
async fn patient_is_told_received_with_no_doctor_online() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut patient, _) = Ws::connect(&server, &c.pat1.token).await;
    patient
        .send(
            json!({"type": "message:send", "clientId": "sos-1", "patientId": c.pat1.id(),
            "doctorId": c.doc1.id(), "content": "Help", "isEmergency": true}),
        )
        .await;
    let (updated, _) = patient.expect_skipping("emergency:updated").await;
    assert_eq!(updated["emergency"]["state"], "RAISED");
    assert_eq!(updated["emergency"]["patientId"], c.pat1.id());
    // Nobody has been alerted yet: the patient is not told a doctor has seen it.
    assert!(updated["emergency"]["acknowledgedBy"].is_null());
}
