//! Compiles the tfplugin6 and go-plugin protocol definitions with a vendored protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let include = protoc_bin_vendored::include_path()?.display().to_string();
    let protos = ["../proto/tfplugin6.proto", "../proto/grpc_controller.proto", "../proto/grpc_stdio.proto", "../proto/grpc_broker.proto"];
    tonic_prost_build::configure().build_client(false).build_server(true).compile_protos(&protos, &["../proto", include.as_str()])?;
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
