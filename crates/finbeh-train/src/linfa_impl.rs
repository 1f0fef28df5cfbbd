//! linfa integration: `Fit` for the validated parameters, `PredictInplace` (hence `Predict`) for
//! the model.

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::error::TrainError;
use crate::forest::RandomForest;
use crate::params::RandomForestValidParams;

impl<D, T> Fit<ArrayBase<D, Ix2>, T, TrainError> for RandomForestValidParams
where
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = usize>,
{
    type Object = RandomForest;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<RandomForest, TrainError> {
        let targets = dataset.targets.as_single_targets();
        let y: Vec<usize> = targets.iter().copied().collect();
        RandomForest::fit(self, dataset.records.view(), &y)
    }
}

impl<D: Data<Elem = f32>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for RandomForest {
    /// Most probable class per row.
    ///
    /// # Panics
    /// linfa's trait has no error channel: panics with the [`TrainError`] message when `x` has
    /// the wrong number of columns or a non-finite value, or `y` the wrong length. Use
    /// [`RandomForest::predict`] for a `Result`.
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        if y.len() != x.nrows() {
            panic!(
                "{}",
                TrainError::LengthMismatch {
                    what: "output targets vs rows",
                    expected: x.nrows(),
                    got: y.len(),
                }
            );
        }
        match RandomForest::predict(self, x.view()) {
            Ok(pred) => y.assign(&pred),
            Err(e) => panic!("{e}"),
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}
