//! s6i-link: make a cloned instance visible to the nested scanner.

fn main() {
    s6i::diag::run(&s6i::step::LINK)
}
