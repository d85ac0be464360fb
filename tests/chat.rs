//! The chat example (the seed's ConnectionManager on the hub) through the TestClient.

#![allow(dead_code)]

use wsframe::testing::TestClient;

#[path = "../examples/chat.rs"]
mod chat;

#[tokio::test]
async fn messages_reach_everyone_in_the_room_and_leaving_is_announced() {
    let client = TestClient::new(chat::app()).unwrap();
    let mut one = client.connect("/ws/1").await.unwrap();
    let mut two = client.connect("/ws/2").await.unwrap();
    let mut other_room = client.connect("/ws/3?room=side").await.unwrap();

    one.send_text("hello").await.unwrap();
    assert_eq!(one.receive_text().await.unwrap(), "Client #1: hello");
    assert_eq!(two.receive_text().await.unwrap(), "Client #1: hello");

    other_room.send_text("psst").await.unwrap();
    assert_eq!(other_room.receive_text().await.unwrap(), "Client #3: psst");

    one.close(wsframe::CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(two.receive_text().await.unwrap(), "Client #1 left");
    // The side room heard nothing from the lobby.
    two.send_text("anyone?").await.unwrap();
    assert_eq!(two.receive_text().await.unwrap(), "Client #2: anyone?");
    other_room.send_text("still here").await.unwrap();
    assert_eq!(
        other_room.receive_text().await.unwrap(),
        "Client #3: still here"
    );
}

#[tokio::test]
async fn the_page_is_served_by_the_app() {
    let client = TestClient::new(chat::app()).unwrap();
    let page = client.get("/").await.unwrap();
    assert_eq!(page.status.as_u16(), 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(page.text().contains("new WebSocket(url)"));
    let bad = client.connect("/ws/not-a-number").await.unwrap_err();
    assert_eq!(bad.status().unwrap().as_u16(), 400);
}
