//! `uniffi-bindgen`: generates Kotlin, Swift and Python bindings from the compiled `linli_ffi` library
//! (`uniffi-bindgen generate --library <path to liblinli_ffi.so> --language python --out-dir <dir>`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
