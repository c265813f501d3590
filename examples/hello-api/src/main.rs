//! A tiny HTTP API for the aks-backend examples, std only (it builds offline and links
//! statically, so its image is `FROM scratch`).
//!
//! GET /healthz -> `ok`; GET /hello -> `{"service": NAME, "message": "hello"}`;
//! GET /upstream -> the body of UPSTREAM's /hello (the compose example's second service).
//! Settings: PORT (8080), SERVICE_NAME (hello-api), UPSTREAM (host:port, optional).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>().expect("PORT is a number")))
        .expect("bind");
    eprintln!("hello-api listening on :{port}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = handle(stream);
        });
    }
}

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let name = std::env::var("SERVICE_NAME").unwrap_or_else(|_| "hello-api".into());
    let (status, body) = match (method, path) {
        ("GET", "/healthz") => ("200 OK", "ok".to_string()),
        ("GET", "/hello") => (
            "200 OK",
            format!("{{\"service\":\"{}\",\"message\":\"hello\"}}", json_escape(&name)),
        ),
        ("GET", "/upstream") => match std::env::var("UPSTREAM") {
            Ok(up) => match get(&up, "/hello") {
                Ok(b) => ("200 OK", b),
                Err(e) => ("502 Bad Gateway", format!("upstream {up}: {e}")),
            },
            Err(_) => ("404 Not Found", "no UPSTREAM set".into()),
        },
        _ => ("404 Not Found", "not found".into()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A minimal HTTP/1.0 GET returning the body.
fn get(host_port: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(host_port)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host_port}\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn json_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}
