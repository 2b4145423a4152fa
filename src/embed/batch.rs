//! Cutting a list of tokenized texts into batches.
//!
//! Texts are sorted by length so that a batch holds texts of similar length, and a batch
//! is closed when its padded size (`rows * longest`) would pass the token budget: one long
//! text no longer pads a whole batch, and memory per run stays bounded.

/// Plan batches for texts of the given token lengths. Returns groups of indices into
/// `lengths`; every index appears exactly once.
pub(crate) fn plan(lengths: &[usize], token_budget: usize, max_rows: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // Longest first: the first row of a batch fixes its padded width.
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut width = 0usize;
    for index in order {
        let len = lengths[index].max(1);
        let new_width = width.max(len);
        if !current.is_empty()
            && ((current.len() + 1) * new_width > token_budget || current.len() >= max_rows)
        {
            batches.push(std::mem::take(&mut current));
            width = 0;
        }
        width = width.max(len);
        current.push(index);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_once_and_budget_respected() {
        let lengths = [5, 300, 7, 7, 12, 1, 256, 3];
        let batches = plan(&lengths, 512, 64);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for batch in &batches {
            let width = batch.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(
                batch.len() == 1 || batch.len() * width <= 512,
                "batch {batch:?} over budget"
            );
        }
        // The long text does not share a batch with the short ones.
        let long = batches.iter().find(|b| b.contains(&1)).unwrap();
        assert!(!long.contains(&5));
    }

    #[test]
    fn max_rows_caps_batches() {
        let lengths = vec![2; 10];
        let batches = plan(&lengths, 1000, 4);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
    }

    #[test]
    fn empty_input() {
        assert!(plan(&[], 100, 8).is_empty());
    }
}
