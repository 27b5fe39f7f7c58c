//! Files for tests of downloads and imports, shared by the emulator's suites and the end-to-end
//! ones: a loopback HTTP server to download from, and qcow2 images with a chosen virtual size.

/// A loopback HTTP/1.1 server answering `GET /NAME` with the file's bytes (404 for others), one
/// connection at a time, until the process ends. Returns its base URL (`http://127.0.0.1:PORT`).
pub fn serve_files(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let mut stream = reader.into_inner();
            match files.iter().find(|(name, _)| *name == path) {
                Some((_, body)) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
                }
                None => {
                    let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        }
    });
    url
}

/// A qcow2 file of `length` bytes whose header declares a disk of `virtual_size` bytes (magic
/// `QFI\xfb`, version 3, the size as a big-endian u64 at byte 24).
pub fn qcow2_image(virtual_size: u64, length: usize) -> Vec<u8> {
    let mut image = vec![0u8; length.max(512)];
    image[..4].copy_from_slice(b"QFI\xfb");
    image[4..8].copy_from_slice(&3u32.to_be_bytes());
    image[20..24].copy_from_slice(&16u32.to_be_bytes());
    image[24..32].copy_from_slice(&virtual_size.to_be_bytes());
    image
}
