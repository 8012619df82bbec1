//! `evilfront insn-mark SEQ [dump]` (in dom0): marks a window for the QEMU plugin that
//! counts instructions (benches/insn-count/nbt_insn.c). The mark is `cpuid` with
//! eax = 0x4e42_0000 | SEQ, | 0x8000 with `dump` (the plugin then writes the counts since
//! the last mark to its file SEQ); every mark zeroes the counts. Without the plugin it is a
//! plain `cpuid`.

pub fn main(words: &[String]) -> i32 {
    let seq = match words.first().map(|w| w.parse::<u32>()) {
        Some(Ok(n)) if n < 0x8000 => n,
        _ => {
            eprintln!("usage: evilfront insn-mark SEQ (0-32767) [dump]");
            return 2;
        }
    };
    let dump = match words.get(1).map(String::as_str) {
        None => 0,
        Some("dump") => 0x8000,
        Some(w) => {
            eprintln!("evilfront insn-mark: unknown word {w}");
            return 2;
        }
    };
    #[allow(unused_unsafe)]
    // SAFETY: cpuid reads no memory and writes only the registers __cpuid saves.
    let _ = unsafe { core::arch::x86_64::__cpuid(0x4e42_0000 | dump | seq) };
    0
}
